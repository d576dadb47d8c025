// Page of the spacy-clinical-ner service: POST the note to /annotate and draw the result.
// Note text is only ever inserted as text nodes (never as HTML).
"use strict";

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children || []) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function isNegated(ent) { return ent.is_negated === true || ent.assertion === "absent"; }
function isUncertain(ent) {
  return ent.is_uncertain === true || ent.is_hypothetical === true || ["possible", "hypothetical", "conditional"].includes(ent.assertion);
}
function isOtherPerson(ent) { return ent.is_family === true || ent.assertion === "associated_with_someone_else"; }

function entityClass(ent) {
  const classes = ["ent"];
  if (isNegated(ent)) classes.push("negated");
  else if (isUncertain(ent)) classes.push("uncertain");
  else if (isOtherPerson(ent)) classes.push("other-person");
  return classes.join(" ");
}

function drawText(text, entities) {
  const box = document.getElementById("text");
  box.replaceChildren();
  // The service's offsets count Unicode code points (as Python does); String.slice counts UTF-16
  // units, which differ after any astral character (emoji): slice an array of code points instead.
  const chars = Array.from(text);
  const slice = (start, end) => chars.slice(start, end).join("");
  const order = entities.map((ent, i) => [ent, i]).sort((a, b) => a[0].start - b[0].start || b[0].end - a[0].end);
  let pos = 0;
  for (const [ent, i] of order) {
    if (ent.start < pos) continue; // overlapping entity: listed in the table only
    box.append(document.createTextNode(slice(pos, ent.start)));
    const concept = ent.concept_id ?? ent.cui;  // "cui": records before 0.2
    const tag = el("span", { class: "tag" }, [concept ? `${ent.label} · ${concept}` : ent.label]);
    const title = `${ent.label}; assertion: ${ent.assertion ?? "n/a"}${concept ? "; " + concept : ""}${ent.concept_name ? " (" + ent.concept_name + ")" : ""}`;
    box.append(el("mark", { class: entityClass(ent), "data-index": i, "data-label": ent.label, "data-cui": concept, title: title }, [slice(ent.start, ent.end), tag]));
    pos = ent.end;
  }
  box.append(document.createTextNode(slice(pos)));
}

function drawTables(record) {
  const ents = document.querySelector("#entities tbody");
  ents.replaceChildren(...record.entities.map((ent, i) => el("tr", { class: isNegated(ent) ? "negated" : null }, [
    el("td", {}, [i]), el("td", {}, [ent.text]), el("td", {}, [ent.label]), el("td", {}, [ent.assertion ?? ""]),
    el("td", {}, [ent.cue ? ent.cue.text : ""]), el("td", { class: "cui" }, [ent.concept_id ?? ent.cui ?? ""]), el("td", {}, [ent.concept_name ?? ""]),
  ])));
  const rels = document.querySelector("#relations tbody");
  rels.replaceChildren(...record.relations.map((rel) => el("tr", {}, [
    el("td", {}, [record.entities[rel.head].text]), el("td", {}, [rel.label]),
    el("td", {}, [record.entities[rel.tail].text]), el("td", {}, [rel.score.toFixed(2)]),
  ])));
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
  document.getElementById("result").hidden = true;
}

async function annotate() {
  const text = document.getElementById("note").value;
  const status = document.getElementById("status");
  document.getElementById("error").hidden = true;
  status.textContent = "Annotating…";
  try {
    const response = await fetch("/annotate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: "page", text: text }),
    });
    const body = await response.json();
    if (!response.ok) {
      const problem = body.error || body.detail || {};
      showError(`${response.status}: ${problem.code || "error"} – ${problem.message || JSON.stringify(body)}`);
      status.textContent = "";
      return;
    }
    drawText(text, body.entities);
    drawTables(body);
    document.getElementById("result").hidden = false;
    status.textContent = `${body.entities.length} entities, ${body.relations.length} relations`;
  } catch (err) {
    showError(`Request failed: ${err}`);
    status.textContent = "";
  }
}

async function loadHealth() {
  try {
    const response = await fetch("/health");
    const body = await response.json();
    document.getElementById("model-name").textContent = `${body.model} (${body.pipeline.join(", ")})`;
  } catch (err) {
    document.getElementById("model-name").textContent = "unavailable";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("annotate").addEventListener("click", annotate);
  document.getElementById("note").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) annotate();
  });
  loadHealth();
});
