// The page's behaviour: tabs, the prediction form (upload or microphone), results and corpus views.
// No framework and nothing fetched from the internet; the server's JSON API is described in ensemble/web/app.py.
"use strict";

const $ = (id) => document.getElementById(id);
let recorded = null;  // a WAV Blob made from the microphone, used when no file is chosen

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.appendChild(child);
  return node;
}

// ---------------------------------------------------------------- tabs
const loaded = {};
function show(page) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.page === page);
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== `page-${page}`;
  if (page === "results" && !loaded.results) { loaded.results = true; loadResults(); }
  if (page === "corpus" && !loaded.corpus) { loaded.corpus = true; loadCorpus(); }
}
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.page));

async function getJSON(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${url}: HTTP ${response.status}`);
  return data;
}

getJSON("/api/models").then((info) => {
  $("models").textContent = "models: " + info.models.map((m) => `${m.name} (${m.input}, weight ${m.weight})`).join(", ")
    + ` · uploads up to ${info.max_upload_mb} MB`;
}).catch((error) => { $("models").textContent = String(error); });

// ---------------------------------------------------------------- prediction
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function bars(title, entry) {
  const box = element("div", { class: "source" }, [element("h3", { text: title })]);
  const best = entry.emotion;
  for (const [emotion, p] of Object.entries(entry.probabilities)) {
    const fill = element("div", { class: "fill", style: `width: ${(100 * p).toFixed(1)}%` });
    box.appendChild(element("div", { class: "bar" + (emotion === best ? " top" : ""), "data-emotion": emotion }, [
      element("span", { text: emotion }), element("div", { class: "track" }, [fill]),
      element("span", { class: "value", text: p.toFixed(3) }),
    ]));
  }
  const dims = ["valence", "arousal"].filter((d) => d in entry).map((d) => `${d} ${entry[d].toFixed(2)}`);
  if (dims.length) box.appendChild(element("p", { class: "muted", text: dims.join(" · ") + " (1-5)" }));
  return box;
}

function showPrediction(data) {
  $("emotion").textContent = data.emotion;
  $("confidence").textContent = `(${data.probabilities[data.emotion].toFixed(3)})`;
  const dims = ["valence", "arousal"].filter((d) => d in data).map((d) => `${d} ${data[d].toFixed(2)}`);
  $("dimensions").textContent = dims.length ? dims.join(" · ") + " on the raters' 1-5 scale" : "";
  const holder = $("bars");
  holder.replaceChildren(bars("combined (soft vote)", data));
  for (const [name, entry] of Object.entries(data.modalities)) holder.appendChild(bars(`${name} (weight ${data.weights[name]})`, entry));
  $("result").hidden = false;
}

$("predict-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  $("result").hidden = true;
  const form = new FormData();
  const file = $("wav").files[0];
  if (file) form.append("wav", file); else if (recorded) form.append("wav", recorded, "microphone.wav");
  const text = $("text").value;
  if (text.trim() || (!file && !recorded)) form.append("text", text);
  for (const role of ["eda", "temp", "ibi", "ecg"]) if ($(role).files[0]) form.append(role, $(role).files[0]);
  for (const key of ["segment", "start", "end"]) if ($(key).value.trim()) form.append(key, $(key).value.trim());
  $("predict").disabled = true;
  try {
    const response = await fetch("/api/predict", { method: "POST", body: form });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) showError(data.error || `HTTP ${response.status}`); else showPrediction(data);
  } catch (error) {
    showError(`the server did not answer (${error})`);
  } finally {
    $("predict").disabled = false;
  }
});

$("predict-form").addEventListener("reset", () => {
  recorded = null;
  $("playback").hidden = true;
  $("record-status").textContent = "";
  showError("");
  $("result").hidden = true;
});

// ---------------------------------------------------------------- microphone -> 16-bit PCM WAV
function encodeWav(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const ascii = (offset, text) => { for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i)); };
  ascii(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); ascii(8, "WAVE");
  ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  ascii(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      const s = Math.max(-1, Math.min(1, sample));
      view.setInt16(offset, s < 0 ? s * 0x8000 : s * 0x7fff, true);
      offset += 2;
    }
  }
  return new Blob([view], { type: "audio/wav" });
}

let recording = null;
$("record").addEventListener("click", async () => {
  if (recording) {
    const { stream, context, processor, chunks } = recording;
    recording = null;
    processor.disconnect();
    stream.getTracks().forEach((track) => track.stop());
    recorded = encodeWav(chunks, context.sampleRate);
    await context.close();
    $("record").textContent = "Record from the microphone";
    $("record-status").textContent = `recorded ${(recorded.size / 2 / context.sampleRate).toFixed(1)} s (used when no file is chosen)`;
    $("playback").src = URL.createObjectURL(recorded);
    $("playback").hidden = false;
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("record-status").textContent = "this browser gives no microphone here: open the page as 127.0.0.1 or localhost, or over HTTPS";
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const processor = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(context.destination);
    recording = { stream, context, processor, chunks };
    $("record").textContent = "Stop recording";
    $("record-status").textContent = "recording...";
  } catch (error) {
    $("record-status").textContent = `no microphone: ${error.message || error}`;
  }
});

// ---------------------------------------------------------------- results and corpus
function table(spec) {
  const head = element("tr", {}, spec.header.map((h) => element("th", { text: h })));
  const rows = spec.rows.map((row) => element("tr", {}, row.map((cell) => element("td", { text: cell }))));
  return element("div", {}, [element("h3", { text: spec.title }), element("table", {}, [element("thead", {}, [head]), element("tbody", {}, rows)])]);
}

function view(title, data) {
  const box = element("section", {}, [element("h2", { text: title })]);
  for (const line of data.lines) box.appendChild(element("p", { class: "muted", text: line }));
  for (const spec of data.tables) box.appendChild(table(spec));
  for (const figure of data.figures) {
    box.appendChild(element("figure", {}, [element("img", { src: figure.url, alt: figure.title, loading: "lazy" }),
      element("figcaption", { text: figure.title })]));
  }
  return box;
}

async function loadInto(holder, url, sections) {
  try {
    const data = await getJSON(url);
    holder.replaceChildren();
    if (data.note) holder.appendChild(element("p", { class: "error", text: data.note }));
    for (const [key, title] of sections) if (data[key]) holder.appendChild(view(title, data[key]));
  } catch (error) {
    holder.replaceChildren(element("p", { class: "error", text: String(error) }));
  }
}

const loadResults = () => loadInto($("results"), "/api/results",
  [["report", "Evaluation (ensemble/vote.py)"], ["crossval", "Cross-validation (ensemble/crossval.py)"]]);
const loadCorpus = () => loadInto($("corpus"), "/api/corpus", [["corpus", "Corpus (the prepared features)"]]);
