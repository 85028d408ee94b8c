// Start Swagger UI on /api/docs. A file rather than the usual inline script: the Content-Security-Policy of every
// page (script-src 'self') runs no inline script, the docs page's included.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
