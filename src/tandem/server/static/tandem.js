// Draw every chart on the page: each <figure class="chart"> holds its Vega-Lite spec as inert JSON.
// vega.js (served by tandem, built from vl-convert's bundle) defines window.vegaEmbed. `ast: true` makes Vega
// evaluate chart expressions with its interpreter (bundled in vega-embed) instead of compiling them with
// Function(), so the page's Content-Security-Policy needs no 'unsafe-eval'; `defaultStyle: false` and the tooltip's
// `disableDefaultStyle` keep vega-embed and vega-tooltip from adding <style> elements (refused by style-src 'self'):
// their rules are in tandem.css.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var spec = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
    vegaEmbed(figure.querySelector(".vega"), spec, {
      actions: false, renderer: "svg", ast: true, defaultStyle: false, tooltip: { disableDefaultStyle: true }
    })
      .then(function () { figure.dataset.drawn = "true"; })
      .catch(function (error) { figure.dataset.drawn = "error"; figure.append(String(error)); });
  });
});

// Forms for leaders. Each works without JavaScript (the server adds and removes rows and previews the rule);
// this only saves the round trips.
document.addEventListener("DOMContentLoaded", function () {
  // The plan table: "Add a row" copies the last row, emptied; "Remove" takes its row out (the last one is emptied).
  var table = document.getElementById("plan-table");
  if (table) {
    var body = table.querySelector("tbody");
    var renumber = function () {
      body.querySelectorAll("button.remove-row").forEach(function (button, index) { button.value = String(index + 1); });
    };
    document.getElementById("plan-add-row").addEventListener("click", function (event) {
      event.preventDefault();
      var last = body.querySelector("tr.plan-row:last-child");
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      body.appendChild(row);
      renumber();
      row.querySelector("input[name=channel]").focus();
    });
    body.addEventListener("click", function (event) {
      var button = event.target.closest("button.remove-row");
      if (!button) { return; }
      event.preventDefault();
      var row = button.closest("tr");
      if (body.querySelectorAll("tr.plan-row").length > 1) { row.remove(); }
      else { row.querySelectorAll("input").forEach(function (input) { input.value = ""; }); }
      renumber();
    });
  }

  // The rule builder: the rule its inputs write, asked of the server as they change (the same code as proposing).
  var builder = document.getElementById("rule-builder");
  if (builder) {
    var preview = document.getElementById("rule-preview");
    var stage = document.getElementById("rule-stage");
    var current = document.getElementById("rule-current");
    var timer = null;
    var ask = function () {
      var query = new URLSearchParams();
      new FormData(builder).forEach(function (value, key) {
        if (["field", "operator", "value", "activity_kind", "activity_count", "activity_days", "score"].indexOf(key) >= 0) {
          query.append(key, value);
        }
      });
      fetch("/definitions/rule-preview?" + query.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          preview.textContent = answer.error ? answer.error : (answer.rule || "(none: the stage is reached by its stage events only)");
          preview.classList.toggle("bad-text", Boolean(answer.error));
          builder.dataset.previewed = "true";
        });
    };
    builder.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 250); });
    builder.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(ask, 50); });
    stage.addEventListener("change", function () {
      var rule = stage.options[stage.selectedIndex].dataset.rule;
      current.textContent = "Its rule now: " + (rule || "none") + ". What you build here replaces it.";
    });
    // "Add a condition" copies the last row, emptied, without a round trip.
    document.getElementById("rule-add-condition").addEventListener("click", function (event) {
      event.preventDefault();
      var rows = builder.querySelector("#rule-conditions tbody");
      var row = rows.querySelector("tr.rule-condition:last-child").cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
      rows.appendChild(row);
    });
  }
});
