//! A readable API reference page rendered on the server from the OpenAPI document (no scripts, no CDN).

use std::fmt::Write;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn schema_name(schema: &RefOr<utoipa::openapi::schema::Schema>) -> String {
    match schema {
        RefOr::Ref(r) => r.ref_location.rsplit('/').next().unwrap_or_default().to_owned(),
        RefOr::T(_) => "inline".to_owned(),
    }
}

fn operation(out: &mut String, method: &str, path: &str, op: &Operation) {
    let summary = op.summary.clone().or_else(|| op.description.clone()).unwrap_or_default();
    let _ = write!(
        out,
        "<section><h3><code class=m>{method}</code> <code>{}</code></h3><p>{}</p>",
        escape(path),
        escape(&summary)
    );
    if let Some(params) = &op.parameters {
        out.push_str("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>");
        for p in params {
            let place = match p.parameter_in {
                ParameterIn::Query => "query",
                ParameterIn::Path => "path",
                ParameterIn::Header => "header",
                ParameterIn::Cookie => "cookie",
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{place}</td><td>{}</td></tr>",
                escape(&p.name),
                escape(p.description.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = &op.request_body {
        for (content_type, content) in &body.content {
            let name = content.schema.as_ref().map(schema_name).unwrap_or_default();
            let _ = write!(out, "<p>Body ({}): <a href=\"#schema-{name}\">{name}</a></p>", escape(content_type));
        }
    }
    out.push_str("<ul>");
    for (status, response) in &op.responses.responses {
        let (description, schema) = match response {
            RefOr::T(r) => {
                (r.description.clone(), r.content.values().next().and_then(|c| c.schema.as_ref()).map(schema_name))
            }
            RefOr::Ref(r) => (r.ref_location.clone(), None),
        };
        let link = schema.map(|s| format!(" → <a href=\"#schema-{s}\">{s}</a>")).unwrap_or_default();
        let _ = write!(out, "<li><b>{status}</b> {}{link}</li>", escape(&description));
    }
    out.push_str("</ul></section>");
}

/// Renders the reference page.
pub fn render(doc: &OpenApi) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{} reference</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1d2433}}\
         section{{border-top:1px solid #dde;padding:.5rem 0}}code{{background:#f3f4f8;padding:0 .25rem;border-radius:3px}}\
         code.m{{text-transform:uppercase;background:#1d4ed8;color:#fff}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #dde;padding:.2rem .5rem;text-align:left;vertical-align:top}}pre{{background:#f3f4f8;padding:.5rem;overflow:auto}}\
         </style></head><body><h1>{} <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>. \
         Authenticate with <code>X-Api-Key: &lt;key&gt;</code> or <code>Authorization: Bearer &lt;key&gt;</code>.</p><h2>Endpoints</h2>",
        escape(&doc.info.title),
        escape(&doc.info.title),
        escape(&doc.info.version),
        escape(doc.info.description.as_deref().unwrap_or_default())
    );
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (method, op) in methods {
            if let Some(op) = op {
                operation(&mut out, method, path, op);
            }
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(components) = &doc.components {
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                out,
                "<section id=\"schema-{}\"><h3>{}</h3><pre>{}</pre></section>",
                escape(name),
                escape(name),
                escape(&json)
            );
        }
    }
    out.push_str("</body></html>");
    out
}
