/* The API reference at /docs: Scalar renders both OpenAPI documents this server publishes, with
   navigation by tag, search (Ctrl+K or /), request and response examples, and "Test Request" with an
   API key. Nothing leaves this server: no fonts, telemetry, AI agent or proxy. */
/* global Scalar */
Scalar.createApiReference('#reference', {
  sources: [
    { title: 'Parley API', slug: 'parley', url: '/api/v1/openapi.json' },
    { title: 'Compatible APIs and provider webhooks', slug: 'compatible', url: '/api/compat/openapi.json' },
  ],
  withDefaultFonts: false,
  telemetry: false,
  showDeveloperTools: 'never',
  agent: { disabled: true },
  mcp: { disabled: true },
  hideClientButton: true,
  persistAuth: false,
  documentDownloadType: 'json',
  authentication: { preferredSecurityScheme: 'api_key' },
});
