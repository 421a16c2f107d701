// Starts GraphiQL against the endpoint that served the page (POST to the same path).
// A file rather than an inline script: the page's Content-Security-Policy allows only 'self'.
// Send a token by adding {"Authorization": "Bearer <token>"} in the Headers tab.
'use strict';
(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    })
  );
})();
