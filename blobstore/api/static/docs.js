// Renders the service's openapi.json as a page where each operation can be tried.
// Shipped with the package and served from the service itself, so the page
// needs nothing from other hosts. Spec text is inserted with textContent only.
"use strict";

const METHODS = ["get", "head", "post", "put", "patch", "delete"];

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// Follows a local "#/components/..." reference; the spec has no remote ones.
function resolve(spec, value) {
  let current = value;
  while (current && current.$ref) {
    current = current.$ref.slice(2).split("/").reduce((node, key) => node[key], spec);
  }
  return current;
}

function parameterRows(spec, operation) {
  const inputs = [];
  const table = element("table", {}, element("tr", {},
    element("th", { text: "parameter" }), element("th", { text: "in" }),
    element("th", { text: "value" })));
  for (const raw of operation.parameters || []) {
    const parameter = resolve(spec, raw);
    const input = element("input", { type: "text", placeholder: parameter.description || "" });
    inputs.push({ parameter, input });
    const name = parameter.name + (parameter.required ? " *" : "");
    table.append(element("tr", {}, element("td", { text: name }),
      element("td", { text: parameter.in }), element("td", {}, input)));
  }
  return { table: inputs.length ? table : null, inputs };
}

function bodyForm(spec, operation) {
  const content = (operation.requestBody || {}).content || {};
  const multipart = content["multipart/form-data"];
  if (multipart) {
    const schema = resolve(spec, multipart.schema);
    const fields = [];
    const table = element("table");
    for (const [name, property] of Object.entries(schema.properties || {})) {
      const isFile = property.format === "binary";
      const input = element("input", { type: isFile ? "file" : "text" });
      fields.push({ name, isFile, input });
      table.append(element("tr", {}, element("td", { text: name }), element("td", {}, input)));
    }
    return {
      node: element("div", {}, element("h4", { text: "multipart/form-data body" }), table),
      build: () => {
        const form = new FormData();
        for (const field of fields) {
          if (field.isFile && field.input.files.length) form.append(field.name, field.input.files[0]);
          if (!field.isFile && field.input.value) form.append(field.name, field.input.value);
        }
        return form;
      },
    };
  }
  if (content["application/octet-stream"]) {
    const input = element("input", { type: "file" });
    return {
      node: element("div", {}, element("h4", { text: "raw body (any Content-Type)" }), input),
      build: () => (input.files.length ? input.files[0] : null),
    };
  }
  return null;
}

function responseList(spec, operation) {
  const list = element("ul");
  for (const [status, raw] of Object.entries(operation.responses || {})) {
    list.append(element("li", { text: `${status}: ${resolve(spec, raw).description || ""}` }));
  }
  return list;
}

async function send(method, path, inputs, body, output) {
  let url = path;
  const query = new URLSearchParams();
  const headers = new Headers();
  for (const { parameter, input } of inputs) {
    const value = input.value;
    if (!value) continue;
    if (parameter.in === "path") url = url.replace(`{${parameter.name}}`, encodeURIComponent(value));
    if (parameter.in === "query") for (const part of value.split(",")) query.append(parameter.name, part);
    if (parameter.in === "header") headers.set(parameter.name, value);
  }
  const token = document.getElementById("token").value.trim();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const language = document.getElementById("language").value;
  if (language) headers.set("Accept-Language", language);
  if (query.toString()) url += `?${query}`;

  output.textContent = `${method.toUpperCase()} ${url} …`;
  try {
    const response = await fetch(url.replace(/^\//, ""), {
      method: method.toUpperCase(), headers, body: body || undefined,
    });
    const lines = [`${response.status} ${response.statusText}`];
    response.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
    const type = response.headers.get("content-type") || "";
    let text = "";
    if (/json|^text\//.test(type)) {
      text = await response.text();
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* not JSON */ }
    } else if (method !== "head") {
      text = `(${(await response.arrayBuffer()).byteLength} bytes of ${type || "unknown type"})`;
    }
    output.textContent = `${lines.join("\n")}\n\n${text}`;
  } catch (error) {
    output.textContent = `request failed: ${error}`;
  }
}

function renderOperation(spec, path, method, operation) {
  const { table, inputs } = parameterRows(spec, operation);
  const body = bodyForm(spec, operation);
  const output = element("pre", { "aria-live": "polite" });
  const button = element("button", { type: "button", text: "Send" });
  button.addEventListener("click", () => send(method, path, inputs, body && body.build(), output));

  const summary = element("summary", {},
    element("span", { class: `method ${method}`, text: method }),
    ` ${path}  ${operation.summary || ""}`);
  return element("details", { class: "operation", id: operation.operationId || `${method}-${path}` },
    summary,
    element("div", {},
      operation.description ? element("p", { text: operation.description }) : null,
      table, body && body.node, element("h4", { text: "Responses" }),
      responseList(spec, operation), button, output));
}

async function main() {
  const container = document.getElementById("operations");
  const spec = await (await fetch("openapi.json")).json();
  document.getElementById("title").textContent = `${spec.info.title} ${spec.info.version}`;
  document.getElementById("description").textContent = spec.info.description || "";
  container.replaceChildren();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (item[method]) container.append(renderOperation(spec, path, method, item[method]));
    }
  }
}

main().catch((error) => {
  document.getElementById("operations").textContent = `cannot load openapi.json: ${error}`;
});
