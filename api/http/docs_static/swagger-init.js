// Starts Swagger UI on /docs. A file of its own, not an inline script, so a Content-Security-Policy
// that forbids inline script still lets the page run; everything it loads comes from this server.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // the public validator is another host: never called
  });
});
