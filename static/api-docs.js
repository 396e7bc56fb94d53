// Renders the OpenAPI document (/api/v1/openapi.json) as a reference page: the credentials,
// then each operation by tag (parameters, body, answers), then every schema. Text from the
// document goes into the page as text, never as markup.
(function () {
  "use strict";
  var METHODS = ["get", "post", "patch", "put", "delete"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  // Markdown-ish text: `code` spans become <code>, the rest stays text.
  function prose(tag, text) {
    var node = el(tag, {});
    String(text || "").split("`").forEach(function (part, i) {
      node.appendChild(i % 2 ? el("code", {}, [part]) : document.createTextNode(part));
    });
    return node;
  }
  function refName(ref) { return ref.split("/").pop(); }

  // A schema as a short type (`string (uuid)`, `array of Item`, `Item`).
  function typeOf(schema) {
    if (!schema) return "";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.oneOf) return schema.oneOf.map(typeOf).join(" | ");
    var t = schema.type;
    if (Array.isArray(t)) t = t.join(" | ");
    if (schema.type === "array" || (Array.isArray(schema.type) && schema.type[0] === "array")) {
      return t.replace("array", "array of " + typeOf(schema.items));
    }
    if (schema.enum) return t + " (" + schema.enum.join(", ") + ")";
    return t + (schema.format ? " (" + schema.format + ")" : "");
  }
  function typeNode(schema) {
    if (schema && schema.$ref) {
      var name = refName(schema.$ref);
      return el("a", { href: "#schema-" + name }, [name]);
    }
    if (schema && schema.items && schema.items.$ref) {
      var item = refName(schema.items.$ref);
      return el("span", {}, ["array of ", el("a", { href: "#schema-" + item }, [item])]);
    }
    return el("code", {}, [typeOf(schema)]);
  }
  function limits(schema) {
    var out = [];
    if (!schema) return "";
    if (schema.minimum !== undefined) out.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) out.push("≤ " + schema.maximum);
    if (schema.minLength !== undefined) out.push("length ≥ " + schema.minLength);
    if (schema.maxLength !== undefined) out.push("length ≤ " + schema.maxLength);
    if (schema.maxItems !== undefined) out.push("≤ " + schema.maxItems + " items");
    if (schema.pattern) out.push("matches " + schema.pattern);
    return out.join(", ");
  }

  function table(head, rows) {
    return el("table", { class: "data" }, [
      el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", {}, [h]); }))]),
      el("tbody", {}, rows),
    ]);
  }

  function operation(path, method, op) {
    var id = op.operationId || method + path;
    var box = el("article", { class: "card api-op", id: "op-" + id }, [
      el("h3", {}, [el("span", { class: "method method-" + method }, [method.toUpperCase()]), " ",
        el("code", {}, [path])]),
      prose("p", op.summary || ""),
    ]);
    if (op.description) box.appendChild(prose("p", op.description));
    if (op.security) {
      var creds = op.security.map(function (s) {
        var names = Object.keys(s);
        return names.length ? names.join(" + ") : "none";
      });
      box.appendChild(el("p", { class: "small" }, ["Credentials: " + creds.join(" or ")]));
    }
    if (op.parameters && op.parameters.length) {
      box.appendChild(table(["Parameter", "In", "Type", ""], op.parameters.map(function (p) {
        return el("tr", {}, [
          el("td", {}, [el("code", {}, [p.name]), p.required ? " *" : ""]),
          el("td", {}, [p.in]),
          el("td", {}, [typeNode(p.schema), " ", el("span", { class: "muted small" }, [limits(p.schema)])]),
          prose("td", p.description || ""),
        ]);
      })));
    }
    if (op.requestBody) {
      var body = op.requestBody.content || {};
      Object.keys(body).forEach(function (type) {
        box.appendChild(el("p", {}, ["Body (" + type + (op.requestBody.required === false ? ", optional" : "") + "): ",
          typeNode(body[type].schema)]));
      });
    }
    var answers = Object.keys(op.responses || {}).sort().map(function (status) {
      var r = op.responses[status], content = r.content || {};
      var types = Object.keys(content).map(function (t) {
        return el("span", {}, [typeNode(content[t].schema), " ", el("span", { class: "muted small" }, [t])]);
      });
      var headers = Object.keys(r.headers || {});
      return el("tr", {}, [
        el("td", {}, [el("strong", {}, [status])]),
        prose("td", r.description || ""),
        el("td", {}, types.concat(headers.length ? [el("span", { class: "muted small" }, [" headers: " + headers.join(", ")])] : [])),
      ]);
    });
    box.appendChild(table(["Status", "When", "Body"], answers));
    return box;
  }

  function schemaBox(name, schema) {
    var box = el("article", { class: "card api-schema", id: "schema-" + name }, [el("h3", {}, [name])]);
    if (schema.description) box.appendChild(prose("p", schema.description));
    var props = schema.properties || {};
    var required = schema.required || [];
    if (Object.keys(props).length) {
      box.appendChild(table(["Field", "Type", ""], Object.keys(props).map(function (k) {
        var p = props[k];
        return el("tr", {}, [
          el("td", {}, [el("code", {}, [k]), required.indexOf(k) >= 0 ? " *" : ""]),
          el("td", {}, [typeNode(p), " ", el("span", { class: "muted small" }, [limits(p)])]),
          prose("td", p.description || ""),
        ]);
      })));
      if (schema.additionalProperties === false) box.appendChild(el("p", { class: "small muted" }, ["Other fields are refused."]));
    } else {
      box.appendChild(el("p", {}, [typeNode(schema), " ", el("span", { class: "muted small" }, [limits(schema)])]));
    }
    return box;
  }

  function render(doc) {
    document.getElementById("api-title").textContent = doc.info.title + " API " + doc.info.version;
    var desc = document.getElementById("api-description");
    desc.replaceWith(prose("p", doc.info.description || ""));
    var auth = document.getElementById("api-auth");
    auth.appendChild(el("h2", { id: "credentials" }, ["Credentials"]));
    var schemes = (doc.components && doc.components.securitySchemes) || {};
    auth.appendChild(table(["Name", "How", ""], Object.keys(schemes).map(function (k) {
      var s = schemes[k];
      var how = s.type === "http" ? "Authorization: Bearer <token>" : "cookie " + s.name;
      return el("tr", {}, [el("td", {}, [el("code", {}, [k])]), el("td", {}, [el("code", {}, [how])]), prose("td", s.description || "")]);
    })));
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      METHODS.forEach(function (m) {
        var op = doc.paths[path][m];
        if (!op) return;
        var tag = (op.tags || ["other"])[0];
        (byTag[tag] = byTag[tag] || []).push([path, m, op]);
      });
    });
    var ops = document.getElementById("api-operations");
    var toc = document.getElementById("api-toc");
    (doc.tags || []).map(function (t) { return t.name; }).concat(Object.keys(byTag)).forEach(function (tag) {
      if (!byTag[tag] || document.getElementById("tag-" + tag)) return;
      var info = (doc.tags || []).filter(function (t) { return t.name === tag; })[0] || {};
      ops.appendChild(el("h2", { id: "tag-" + tag }, [tag]));
      if (info.description) ops.appendChild(prose("p", info.description));
      toc.appendChild(el("a", { href: "#tag-" + tag }, [tag]));
      byTag[tag].forEach(function (o) { ops.appendChild(operation(o[0], o[1], o[2])); });
    });
    toc.appendChild(el("a", { href: "#schemas" }, ["schemas"]));
    var schemas = document.getElementById("api-schemas");
    schemas.appendChild(el("h2", { id: "schemas" }, ["Schemas"]));
    var all = (doc.components && doc.components.schemas) || {};
    Object.keys(all).sort().forEach(function (name) { schemas.appendChild(schemaBox(name, all[name])); });
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  fetch("/api/v1/openapi.json", { cache: "no-store" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(render)
    .catch(function (e) {
      document.getElementById("api-description").textContent = "Could not load the document: " + e.message;
    });
})();
