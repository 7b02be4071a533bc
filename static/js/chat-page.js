// The Chat page: typed messages, streamed text replies (a server-side text session).

import { SignalingSocket, signalingUrl } from "./signaling-socket.js";
import { TranscriptView } from "./transcript-view.js";

const $ = (id) => document.getElementById(id);
const form = $("chat-form");
const input = $("chat-text");
const send = $("chat-send");
const state = $("chat-state");
const errorBox = $("chat-error");

const socket = new SignalingSocket(signalingUrl());
const transcript = new TranscriptView($("transcript"));
let conversationId = null;
let waiting = [];

function setState(text, name) {
  state.textContent = text;
  state.dataset.state = name;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

socket.addEventListener("hello", () => {
  send.disabled = false;
  setState("Ready", "idle");
});

socket.addEventListener("call.started", ({ detail }) => {
  conversationId = detail.conversation_id;
  setState("Connected", "connected");
  for (const text of waiting.splice(0)) socket.send({ type: "text.send", text });
});

socket.addEventListener("text.delta", ({ detail }) => {
  transcript.showDelta(detail.item_id, "assistant", detail.delta);
});
socket.addEventListener("transcript.update", ({ detail }) => transcript.applyTurns(detail.turns));

// Ended from elsewhere (a staff member on the Live page): the next message starts a new chat.
socket.addEventListener("call.ended", ({ detail }) => {
  if (detail.conversation_id !== conversationId) return;
  conversationId = null;
  const byStaff = detail.reason === "ended_by_staff";
  showError(byStaff ? "A staff member ended this chat." : "");
  setState(byStaff ? "Ended by staff" : "Ended", "ended");
});

socket.addEventListener("error", ({ detail }) => {
  showError(detail.message);
  if (detail.fatal) conversationId = null;
});

socket.addEventListener("socket.closed", ({ detail }) => {
  // The server ends a text session with its socket; the next message starts a new one.
  conversationId = null;
  send.disabled = true;
  if (detail.code === 4401) showError("You are signed out. Sign in again to chat.");
  setState(detail.code === 4401 ? "Signed out" : "Reconnecting…", "reconnecting");
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  showError("");
  if (conversationId) {
    socket.send({ type: "text.send", text });
    return;
  }
  waiting.push(text);
  if (waiting.length === 1) socket.send({ type: "call.start", mode: "text" });
});

send.disabled = true;
socket.connect();
