// The API reference: Swagger UI (static/vendor/swagger-ui, no CDN) over the app's OpenAPI
// documents. Requests tried from the page carry the login's CSRF token like the app's own pages.
(() => {
  const root = document.getElementById('swagger-ui');
  if (!root || !window.SwaggerUIBundle) return;
  const urls = JSON.parse(root.dataset.urls);
  const csrf = document.querySelector('meta[name="csrf-token"]');
  window.apiDocs = window.SwaggerUIBundle({
    domNode: root,
    ...(urls.length === 1 ? { url: urls[0].url } : { urls }),
    deepLinking: true,
    validatorUrl: null, // never ask swagger.io to validate the document
    tryItOutEnabled: false,
    requestInterceptor: (request) => {
      if (csrf) request.headers['X-CSRFToken'] = csrf.content;
      return request;
    },
  });
})();
