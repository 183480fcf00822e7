// Starts Swagger UI on /docs with the settings the page carries in data-config:
// the gateway's Content-Security-Policy runs no inline script, so the page cannot
// start it itself as FastAPI's own /docs does.
(() => {
  const root = document.getElementById("swagger-ui");
  const settings = JSON.parse(root.dataset.config);
  window.ui = SwaggerUIBundle({
    ...settings,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
