"""The ``tandem`` command's sub-commands, one module per domain; `tandem.cli` assembles them."""
