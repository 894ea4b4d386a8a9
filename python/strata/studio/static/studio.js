// strata studio's page script: a client of the studio's JSON API (docs/studio.md).
// Values from the database are only ever set as text (textContent, input values), never
// parsed as HTML, so a row holding markup shows the markup.
"use strict";

const body = document.body;
const readOnly = body.dataset.readOnly === "true";

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.error = error;
  }
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: {} };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const payload = await response.json();
  if (!response.ok) throw new ApiError(response.status, payload.error || { message: response.statusText });
  return payload;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    search.set(name, typeof value === "string" ? value : JSON.stringify(value));
  }
  return search.toString();
}

// -- the sidebar's counts, kept fresh ----------------------------------------------------------

async function refreshCounts() {
  try {
    const { models } = await api("/api/models");
    for (const { name, count } of models) {
      const link = document.querySelector(`[data-model-link="${CSS.escape(name)}"] .count`);
      if (link) link.textContent = count.toLocaleString();
      const cell = document.querySelector(`[data-count="${CSS.escape(name)}"]`);
      if (cell) cell.textContent = count.toLocaleString();
    }
  } catch (error) {
    // The counts are a convenience; the page itself reports errors where they matter.
  }
}

// -- showing values ----------------------------------------------------------------------------

function timeText(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return [iso, ""];
  const utc = moment.toISOString().replace("T", " ").replace(/\.000Z$|Z$/, "") + " UTC";
  return [utc, moment.toLocaleString()];
}

function valueCell(field, value) {
  const cell = el("td");
  if (value === null || value === undefined) {
    cell.className = "null";
    cell.textContent = "null";
    return cell;
  }
  if (field.type === "Json") {
    cell.append(el("pre", { text: JSON.stringify(value, null, 2) }));
  } else if (field.type === "DateTime" && !field.list) {
    const [utc, local] = timeText(value);
    cell.append(el("span", { text: utc }), el("span", { class: "local", text: local }));
  } else if (field.list) {
    cell.textContent = JSON.stringify(value);
  } else {
    if (["Int", "BigInt", "Float", "Decimal"].includes(field.type)) cell.className = "num";
    cell.textContent = String(value);
  }
  cell.title = typeof value === "string" ? value : JSON.stringify(value);
  return cell;
}

// -- a model's rows ----------------------------------------------------------------------------

const OPERATORS = {
  String: ["equals", "not", "contains", "startsWith", "endsWith", "in", "lt", "gt"],
  number: ["equals", "not", "lt", "lte", "gt", "gte", "in"],
  DateTime: ["equals", "lt", "lte", "gt", "gte"],
  Boolean: ["equals", "not"],
  enum: ["equals", "not", "in"],
  other: ["equals", "not"],
};

function operatorsOf(field) {
  if (field.enum) return OPERATORS.enum;
  if (["Int", "BigInt", "Float", "Decimal"].includes(field.type)) return OPERATORS.number;
  return OPERATORS[field.type] || OPERATORS.other;
}

function modelPage() {
  const model = body.dataset.model;
  const state = { description: null, sort: null, direction: "asc", where: null, cursor: null, page: null };
  const initial = new URLSearchParams(location.search).get("where");
  if (initial) {
    try { state.where = JSON.parse(initial); } catch (error) { state.where = null; }
  }
  const table = document.getElementById("rows");
  const info = document.getElementById("page-info");
  const filterError = document.getElementById("filter-error");

  async function load(cursor) {
    if (cursor !== undefined) state.cursor = cursor;
    const take = document.getElementById("take").value;
    const params = { take, sort: state.sort, direction: state.direction, where: state.where };
    if (state.cursor) params[state.cursor.side] = state.cursor.key;
    try {
      state.page = await api(`/api/models/${encodeURIComponent(model)}/rows?${query(params)}`);
      filterError.textContent = "";
    } catch (error) {
      filterError.textContent = error.message;
      return;
    }
    render();
  }

  function header() {
    const row = el("tr");
    for (const field of state.description.fields) {
      const arrow = state.sort === field.name ? (state.direction === "asc" ? " ▲" : " ▼") : "";
      row.append(el("th", {
        "data-field": field.name,
        onclick: () => {
          state.direction = state.sort === field.name && state.direction === "asc" ? "desc" : "asc";
          state.sort = field.name;
          load(null);
        },
      }, field.name, el("span", { class: "dir", text: arrow })));
    }
    for (const relation of state.description.relations) row.append(el("th", { text: relation.name }));
    table.tHead.replaceChildren(row);
  }

  function relationCell(relation, record) {
    const values = relation.fields.map((f) => record[f]);
    if (values.some((v) => v === null || v === undefined)) return el("td", { class: "null", text: "null" });
    const where = {};
    relation.references.forEach((name, i) => { where[name] = values[i]; });
    const label = relation.many ? `${relation.model} →` : `${relation.model} ${values.join(", ")}`;
    const href = `/models/${encodeURIComponent(relation.model)}?${query({ where })}`;
    return el("td", {}, el("a", { href, "data-relation": relation.name, text: label }));
  }

  function render() {
    header();
    const { rows, keys, hasNext, hasPrevious } = state.page;
    const fields = state.description.fields;
    const tbody = el("tbody");
    rows.forEach((record, index) => {
      const row = el("tr", { "data-key": JSON.stringify(keys[index]) });
      for (const field of fields) row.append(valueCell(field, record[field.name]));
      for (const relation of state.description.relations) row.append(relationCell(relation, record));
      if (!readOnly) row.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        openEditor(record, keys[index]);
      });
      tbody.append(row);
    });
    table.tBodies[0].replaceWith(tbody);
    const previous = document.getElementById("previous");
    const next = document.getElementById("next");
    previous.disabled = !hasPrevious;
    next.disabled = !hasNext;
    previous.onclick = () => load({ side: "before", key: keys[0] });
    next.onclick = () => load({ side: "after", key: keys[keys.length - 1] });
    info.textContent = rows.length ? `${rows.length} rows` : "no rows";
  }

  // Filters: one line per condition, combined with AND.
  const filterRows = document.getElementById("filter-rows");
  function addFilter(name, operator, value) {
    const fields = state.description.fields;
    const fieldSelect = el("select", { class: "filter-field" });
    for (const field of fields) fieldSelect.append(el("option", { value: field.name, text: field.name }));
    const operatorSelect = el("select", { class: "filter-operator" });
    const valueInput = el("input", { class: "filter-value", placeholder: "value" });
    function fillOperators() {
      const field = fields.find((f) => f.name === fieldSelect.value);
      operatorSelect.replaceChildren(...operatorsOf(field).map((o) => el("option", { value: o, text: o })));
      valueInput.placeholder = field.enum ? field.enum.join(" | ") : field.type;
    }
    fieldSelect.addEventListener("change", fillOperators);
    if (name) fieldSelect.value = name;
    fillOperators();
    if (operator) operatorSelect.value = operator;
    if (value !== undefined) valueInput.value = value;
    const line = el("div", { class: "filter" }, fieldSelect, operatorSelect, valueInput,
      el("button", { type: "button", text: "×", title: "remove", onclick: () => line.remove() }));
    filterRows.append(line);
  }

  function readFilters() {
    const conditions = [];
    for (const line of filterRows.querySelectorAll(".filter")) {
      const name = line.querySelector(".filter-field").value;
      const operator = line.querySelector(".filter-operator").value;
      const text = line.querySelector(".filter-value").value;
      const field = state.description.fields.find((f) => f.name === name);
      let value = text;
      if (operator === "in") value = text.split(",").map((v) => v.trim()).filter((v) => v !== "");
      else if (text === "null" && field.optional) value = null;
      conditions.push({ [name]: { [operator]: value } });
    }
    if (!conditions.length) return null;
    return conditions.length === 1 ? conditions[0] : { AND: conditions };
  }

  document.getElementById("add-filter").addEventListener("click", () => addFilter());
  document.getElementById("clear-filters").addEventListener("click", () => {
    filterRows.replaceChildren();
    state.where = null;
    history.replaceState(null, "", location.pathname);
    load(null);
  });
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.where = readFilters();
    history.replaceState(null, "", state.where ? `?${query({ where: state.where })}` : location.pathname);
    load(null);
  });
  document.getElementById("take").addEventListener("change", () => load(null));

  // Editing: one dialog for new and existing rows; errors go next to their field.
  const dialog = document.getElementById("editor");
  const editFields = document.getElementById("edit-fields");
  const editError = document.getElementById("edit-error");
  let editing = null;

  function inputFor(field, value) {
    let input;
    if (field.type === "Json" || field.list) {
      input = el("textarea");
      input.value = value === undefined ? "" : JSON.stringify(value, null, 2);
    } else if (field.enum || field.type === "Boolean") {
      input = el("select");
      if (field.optional || value === undefined) input.append(el("option", { value: "", text: "" }));
      for (const option of field.enum || ["true", "false"]) input.append(el("option", { value: option, text: option }));
      input.value = value === undefined || value === null ? "" : String(value);
    } else {
      input = el("input");
      input.value = value === undefined || value === null ? "" : String(value);
    }
    input.name = field.name;
    input.id = `field-${field.name}`;
    return input;
  }

  function openEditor(record, key) {
    editing = { key, record };
    document.getElementById("editor-title").textContent = key ? `Edit ${model}` : `New ${model}`;
    document.getElementById("delete").hidden = !key;
    document.getElementById("delete").textContent = "Delete";
    editError.textContent = "";
    editFields.replaceChildren();
    for (const field of state.description.fields) {
      const value = record ? record[field.name] : undefined;
      const hints = [field.type + (field.list ? "[]" : "") + (field.optional ? "?" : "")];
      if (field.generated && !record) hints.push("leave empty for the default");
      if (field.updatedAt) hints.push("@updatedAt: set on save");
      editFields.append(el("div", { class: "field" },
        el("label", { for: `field-${field.name}`, text: field.name }),
        inputFor(field, value),
        el("span", { class: "hint", text: hints.join(" · ") }),
        el("span", { class: "error", "data-error-for": field.name, role: "alert" })));
    }
    dialog.showModal();
  }

  function readForm() {
    const data = {};
    const problems = {};
    for (const field of state.description.fields) {
      const input = editFields.querySelector(`[name="${CSS.escape(field.name)}"]`);
      const text = input.value;
      const original = editing.record ? editing.record[field.name] : undefined;
      let value;
      if (field.type === "Json" || field.list) {
        if (text.trim() === "") value = field.optional || !editing.record ? undefined : original;
        else {
          try { value = JSON.parse(text); } catch (error) { problems[field.name] = "not valid JSON"; continue; }
        }
      } else if (text === "") {
        value = field.optional && editing.record ? null : undefined;
      } else {
        value = field.type === "Boolean" ? text === "true" : text;
      }
      if (value === undefined) continue;
      // An update sends only what changed, so @updatedAt and defaults behave as in code.
      if (editing.record && JSON.stringify(value) === JSON.stringify(original)) continue;
      if (editing.record && original !== null && typeof original !== "object" && String(original) === String(value)) continue;
      data[field.name] = value;
    }
    return { data, problems };
  }

  function showErrors(problems, message) {
    for (const span of editFields.querySelectorAll("[data-error-for]")) {
      span.textContent = problems[span.dataset.errorFor] || "";
    }
    editError.textContent = message || "";
  }

  document.getElementById("edit-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { data, problems } = readForm();
    if (Object.keys(problems).length) return showErrors(problems, "Some fields need fixing.");
    try {
      if (editing.key) {
        await api(`/api/models/${encodeURIComponent(model)}/rows`, { method: "PATCH", body: { key: editing.key, data } });
      } else {
        await api(`/api/models/${encodeURIComponent(model)}/rows`, { method: "POST", body: { data } });
      }
    } catch (error) {
      const fields = error.error && (error.error.fields || (error.error.field ? [error.error.field] : []));
      const named = {};
      for (const name of fields || []) named[name] = error.message;
      return showErrors(named, error.message);
    }
    dialog.close();
    load();
    refreshCounts();
  });

  document.getElementById("delete").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    // Two clicks instead of confirm(): no native dialog for a mis-click to accept.
    if (button.textContent === "Delete") {
      button.textContent = "Really delete?";
      return;
    }
    try {
      await api(`/api/models/${encodeURIComponent(model)}/rows?${query({ key: editing.key })}`, { method: "DELETE" });
    } catch (error) {
      return showErrors({}, error.message);
    }
    dialog.close();
    load();
    refreshCounts();
  });
  document.getElementById("cancel-edit").addEventListener("click", () => dialog.close());
  const newRow = document.getElementById("new-row");
  if (newRow) newRow.addEventListener("click", () => openEditor(null, null));

  api(`/api/models/${encodeURIComponent(model)}`).then((description) => {
    state.description = description;
    if (state.where && typeof state.where === "object" && !Array.isArray(state.where)) {
      for (const [name, condition] of Object.entries(state.where)) {
        const isOperator = condition !== null && typeof condition === "object" && !Array.isArray(condition);
        const [operator, value] = isOperator ? Object.entries(condition)[0] : ["equals", condition];
        addFilter(name, operator, Array.isArray(value) ? value.join(", ") : value === null ? "null" : String(value));
      }
    }
    load(null);
    // Live: the page in view is read again unless a row is being edited.
    setInterval(() => { if (!dialog.open && document.visibilityState === "visible") load(); }, 5000);
  }, (error) => { filterError.textContent = error.message; });
}

// -- watching ----------------------------------------------------------------------------------

function stat(label, value) {
  return el("div", { class: "stat" }, el("div", { class: "label", text: label }), el("div", { class: "value", text: value }));
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function queueAction(name, action, key) {
  const error = document.getElementById("watch-error");
  try {
    await api(`/api/queues/${encodeURIComponent(name)}/${action}`, { method: "POST", body: { key } });
    error.textContent = "";
  } catch (failure) {
    error.textContent = failure.message;
  }
  refreshWatch();
}

function renderQueue(section, q) {
  const stats = el("div", { class: "stats" });
  for (const [state, count] of Object.entries(q.counts)) {
    const tile = stat(state, count.toLocaleString());
    tile.dataset.state = state;
    stats.append(tile);
  }
  stats.append(stat("delayed", q.delayed.toLocaleString()), stat("expired leases", q.expiredLeases.toLocaleString()),
    stat("oldest waiting", age(q.oldestReadySeconds)));
  const most = Math.max(1, ...q.throughput.map((m) => m.done));
  const bars = el("div", { class: "bars", title: "completions per minute, last 10 minutes" });
  for (const minute of q.throughput) {
    bars.append(el("div", { style: `height:${Math.round((minute.done / most) * 100)}%`, title: `${timeText(minute.minute)[0]}: ${minute.done}` }));
  }
  const lists = el("div", { class: "jobs" });
  const actionsFor = { ready: ["cancel"], claimed: ["release", "cancel"], failed: ["retry"] };
  for (const [state, jobs] of Object.entries(q.jobs)) {
    const list = el("ul");
    for (const job of jobs) {
      const key = {};
      for (const name of q.key) key[name] = job[name];
      const item = el("li", {}, el("code", { text: q.key.map((k) => job[k]).join(", ") }));
      if (!readOnly) {
        for (const action of actionsFor[state] || []) {
          if (!q.actions.includes(action)) continue;
          item.append(el("button", { type: "button", "data-action": action, text: action, onclick: () => queueAction(q.name, action, key) }));
        }
      }
      list.append(item);
    }
    if (!jobs.length) list.append(el("li", { class: "muted", text: "none" }));
    lists.append(el("div", {}, el("h3", { text: state }), list));
  }
  section.querySelector(".queue-body").replaceChildren(stats, el("div", { class: "muted", text: "completions per minute" }), bars, lists);
}

function renderLimiter(section, r) {
  const table = el("table", { class: "grid" });
  const measure = r.busiest.length && "tat" in r.busiest[0] ? "tat" : "count";
  table.append(el("thead", {}, el("tr", {}, ...r.keyFields.map((k) => el("th", { text: k })), el("th", { class: "num", text: measure }))));
  const tbody = el("tbody");
  for (const entry of r.busiest) {
    tbody.append(el("tr", {}, ...entry.key.map((k) => el("td", { text: String(k) })), el("td", { class: "num", text: String(entry[measure]) })));
  }
  table.append(tbody);
  const since = r.window ? `window from ${timeText(r.window)[0]}` : "no hits yet";
  section.querySelector(".limiter-body").replaceChildren(el("p", { class: "muted", text: `busiest keys, ${since}` }), table);
}

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2f6fde", "#d9534f", "#1d8a4e", "#f0a202", "#7b4fd6", "#0fa3b1", "#c2571a", "#5b6b82"];

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function renderChart(section, m) {
  const chart = section.querySelector(".chart");
  const lines = Object.entries(m.series);
  const points = lines.flatMap(([, line]) => line.filter((p) => p[1] !== null));
  if (!points.length) {
    chart.replaceChildren(el("p", { class: "muted", text: "no samples" }));
    return;
  }
  const times = points.map((p) => Date.parse(p[0]));
  const values = points.map((p) => Number(p[1]));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [v0, v1] = [Math.min(...values), Math.max(...values)];
  const width = 900, height = 260, pad = 40;
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - v0) / (v1 - v0 || 1)) * (height - 2 * pad);
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  picture.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#c9d0db" }));
  for (const [value, label] of [[v0, v0], [v1, v1]]) {
    const text = svg("text", { x: 4, y: y(value) + 4, "font-size": 11, fill: "#667085" });
    text.textContent = Number(label).toPrecision(4);
    picture.append(text);
  }
  lines.forEach(([, line], index) => {
    const drawn = line.filter((p) => p[1] !== null).map((p) => `${x(Date.parse(p[0])).toFixed(1)},${y(Number(p[1])).toFixed(1)}`);
    picture.append(svg("polyline", { points: drawn.join(" "), fill: "none", stroke: PALETTE[index % PALETTE.length], "stroke-width": 1.5 }));
  });
  const legend = el("p", { class: "legend", text: `${m.value} ${m.stat} per ${m.every}, ${lines.length} series, ${timeText(points[0][0])[0]} to ${timeText(points[points.length - 1][0])[0]}` });
  chart.replaceChildren(picture, legend);
}

async function refreshWatch() {
  const error = document.getElementById("watch-error");
  try {
    for (const section of document.querySelectorAll("[data-queue]")) {
      renderQueue(section, await api(`/api/queues/${encodeURIComponent(section.dataset.queue)}`));
    }
    for (const section of document.querySelectorAll("[data-limiter]")) {
      renderLimiter(section, await api(`/api/rate-limiters/${encodeURIComponent(section.dataset.limiter)}`));
    }
    for (const section of document.querySelectorAll("[data-metric]")) {
      const form = section.querySelector("form");
      const params = query(Object.fromEntries(new FormData(form)));
      renderChart(section, await api(`/api/metrics/${encodeURIComponent(section.dataset.metric)}?${params}`));
    }
  } catch (failure) {
    error.textContent = failure.message;
  }
}

function watchPage() {
  for (const form of document.querySelectorAll(".metric-controls")) {
    form.addEventListener("change", refreshWatch);
    form.addEventListener("submit", (event) => { event.preventDefault(); refreshWatch(); });
  }
  refreshWatch();
  setInterval(() => { if (document.visibilityState === "visible") refreshWatch(); }, 2000);
}

// -- the SQL box -------------------------------------------------------------------------------

function queryPage() {
  const sql = document.getElementById("sql");
  const result = document.getElementById("query-result");
  const problem = document.getElementById("query-error");
  const info = document.getElementById("query-info");
  function links() {
    for (const format of ["csv", "parquet"]) {
      document.getElementById(`download-${format}`).href = `/api/query/download?${query({ format, sql: sql.value })}`;
    }
  }
  sql.addEventListener("input", links);
  links();
  document.getElementById("query-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let answer;
    try {
      answer = await api("/api/query", { method: "POST", body: { sql: sql.value } });
    } catch (error) {
      problem.textContent = error.message;
      return;
    }
    problem.textContent = "";
    result.tHead.replaceChildren(el("tr", {}, ...answer.columns.map((c) => el("th", { text: c }))));
    const tbody = el("tbody");
    for (const row of answer.rows) {
      tbody.append(el("tr", {}, ...row.map((v) => el("td", { class: v === null ? "null" : "", text: v === null ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v) }))));
    }
    result.tBodies[0].replaceWith(tbody);
    info.textContent = `${answer.rows.length} rows${answer.truncated ? " shown; the downloads hold them all" : ""}`;
  });
}

refreshCounts();
setInterval(() => { if (document.visibilityState === "visible") refreshCounts(); }, 10000);
if (body.dataset.page === "model") modelPage();
else if (body.dataset.page === "watch") watchPage();
else if (body.dataset.page === "query") queryPage();
