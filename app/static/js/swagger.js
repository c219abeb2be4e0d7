// Swagger UI of /api/v1/docs, started from a file: the Content-Security-Policy allows no inline script.
// Its settings (the OpenAPI document's URL and OPENAPI_SWAGGER_UI_CONFIG) come in the page's JSON block.
(function () {
  var config = JSON.parse(document.getElementById("swagger-config").textContent);
  config.dom_id = "#swagger-ui-container";
  window.ui = SwaggerUIBundle(config);
})();
