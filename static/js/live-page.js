// The staff Live page: the calls in progress and their transcripts, over /ws/live/
// (protocol: docs/signaling.md, "Live socket"). The server sends the whole state on every
// connect, so a reconnect after a restart (Daphne or Redis) starts from the database again.

import { TranscriptView } from "./transcript-view.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
// Signed out, or not staff: reconnecting would be refused the same way.
const FINAL_CLOSE_CODES = new Set([4401, 4403]);
const OPEN_STATUSES = new Set(["connecting", "active"]);

const $ = (id) => document.getElementById(id);
const ui = {
  state: $("live-state"),
  error: $("live-error"),
  empty: $("live-empty"),
  calls: $("live-calls"),
};
const template = $("live-call-template");
const shown = new Map(); // conversation id → { element, transcript }
let socket = null;
let attempt = 0;

function setState(text, state) {
  ui.state.textContent = text;
  ui.state.dataset.state = state;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function describe(call) {
  const started = new Date(call.started_at).toLocaleTimeString();
  return `${call.mode}, ${call.status}, since ${started}`;
}

function render(call) {
  let entry = shown.get(call.conversation_id);
  if (!entry) {
    const element = template.content.firstElementChild.cloneNode(true);
    element.dataset.conversationId = call.conversation_id;
    element.querySelector(".live-call-end").addEventListener("click", (event) => {
      event.target.disabled = true;
      send({ type: "call.end", conversation_id: call.conversation_id });
    });
    const transcript = new TranscriptView(element.querySelector(".transcript"));
    entry = { element, transcript, owner: call.owner };
    shown.set(call.conversation_id, entry);
    ui.calls.append(element);
  }
  const title = entry.element.querySelector(".live-call-title");
  title.textContent = `${call.owner} · call ${call.conversation_id}`;
  const end = entry.element.querySelector(".live-call-end");
  end.setAttribute("aria-label", `End ${call.owner}'s call ${call.conversation_id}`);
  entry.element.querySelector(".live-call-meta").textContent = describe(call);
  entry.element.dataset.status = call.status;
  showTurns(entry, call.turns ?? []);
}

// The transcript view labels the user's turns "You"; here they are someone else's words.
function showTurns(entry, turns) {
  entry.transcript.applyTurns(turns);
  for (const who of entry.element.querySelectorAll(".turn-user .turn-who")) {
    who.textContent = `${entry.owner}: `;
  }
}

function remove(conversationId) {
  shown.get(conversationId)?.element.remove();
  shown.delete(conversationId);
}

function updateEmpty() {
  ui.empty.hidden = shown.size > 0;
}

const handlers = {
  "live.snapshot": ({ calls }) => {
    for (const id of [...shown.keys()]) remove(id);
    calls.forEach(render);
  },
  "live.call": ({ call }) => {
    if (OPEN_STATUSES.has(call.status)) render(call);
    else remove(call.conversation_id);
  },
  "live.turns": ({ conversation_id: id, turns }) => {
    const entry = shown.get(id);
    if (entry) showTurns(entry, turns);
  },
  error: ({ message }) => showError(message),
};

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${window.location.host}/ws/live/`);
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "live.snapshot") {
      attempt = 0;
      setState("Live", "live");
    }
    handlers[message.type]?.(message);
    updateEmpty();
  });
  socket.addEventListener("close", onClose);
}

function onClose(event) {
  if (FINAL_CLOSE_CODES.has(event.code)) {
    setState(event.code === 4401 ? "Signed out" : "Not allowed", "refused");
    return;
  }
  // Any other close (1012 for a server restart included): reconnect, with full jitter so that
  // the pages of a whole team do not all come back at the same moment.
  setState("Reconnecting…", "reconnecting");
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt++);
  setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
}

// For tests and manual checks: drop the socket as a network failure would.
window.voiceappLive = { dropSocket: () => socket?.close(4000, "dropped on purpose") };

connect();
