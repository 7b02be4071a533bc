// The Talk page: wires the signaling socket, the microphone, the RTC call and the transcript.

import { MicrophoneError, openMicrophone, watchLevel } from "./microphone.js";
import { RtcCall } from "./rtc-call.js";
import { SignalingSocket, signalingUrl } from "./signaling-socket.js";
import { TranscriptView } from "./transcript-view.js";

const RELAY_INTERVAL_MS = 250;
const HANGUP_FLUSH_WAIT_MS = 5000;
const USER_DELTA = "conversation.item.input_audio_transcription.delta";
const ASSISTANT_DELTAS = new Set([
  "response.output_audio_transcript.delta",
  "response.audio_transcript.delta",
  "response.output_text.delta",
]);

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start-call"),
  hangup: $("hangup-call"),
  mute: $("mute"),
  mode: $("call-mode"),
  voice: $("call-voice"),
  state: $("call-state"),
  error: $("call-error"),
  meter: $("input-level"),
  textForm: $("call-text-form"),
  textInput: $("call-text"),
  audio: $("assistant-audio"),
};

const socket = new SignalingSocket(signalingUrl());
const transcript = new TranscriptView($("transcript"));
const timings = {};
let call = null;
let stopMeter = null;
let outgoing = [];
let ending = false;

function setState(text, state) {
  ui.state.textContent = text;
  ui.state.dataset.state = state;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function setCallControls(inCall) {
  ui.start.disabled = inCall || !socket.isOpen;
  ui.hangup.disabled = !inCall;
  ui.mute.disabled = !inCall;
  ui.textInput.disabled = !inCall;
  ui.mode.disabled = inCall;
  ui.voice.disabled = inCall;
}

async function start() {
  showError("");
  timings.start = performance.now();
  let microphone;
  try {
    microphone = await openMicrophone();
  } catch (error) {
    showError(error instanceof MicrophoneError ? error.message : String(error));
    return;
  }
  setState("Connecting…", "connecting");
  call = new RtcCall(microphone, ui.audio);
  call.addEventListener("event", (event) => onCallEvent(event.detail));
  call.addEventListener("state", (event) => onPeerState(event.detail));
  stopMeter = watchLevel(microphone, (level) => (ui.meter.value = level));
  setCallControls(true);
  transcript.clear();
  socket.send({ type: "call.start", mode: ui.mode.value, voice: ui.voice.value, ...continuing() });
}

// "Continue" on a past conversation opens this page with ?continue=<id>; used by one call only.
function continuing() {
  const url = new URL(location.href);
  const id = Number(url.searchParams.get("continue"));
  url.searchParams.delete("continue");
  history.replaceState(null, "", url);
  return id > 0 ? { continue_from: id } : {};
}

function onPeerState(state) {
  if (state === "connected") {
    timings.connected = performance.now() - timings.start;
    setState("Connected — speak now", "connected");
    waitForFirstAudio();
  } else if (state === "failed") {
    showError("The audio connection failed. Check your network and start again.");
    hangup("connection_failed");
  }
}

async function waitForFirstAudio() {
  while (call && !(await call.receivedAudioEnergy())) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (call) timings.firstAudio = performance.now() - timings.start;
}

function onCallEvent(event) {
  if (event.type === USER_DELTA) transcript.showDelta(event.item_id, "user", event.delta ?? "");
  if (ASSISTANT_DELTAS.has(event.type)) {
    transcript.showDelta(event.item_id, "assistant", event.delta ?? "");
  }
  // In-session errors leave the call open; the person should still know something went wrong.
  if (event.type === "error") {
    showError(event.error?.message ?? "The voice service reported an error.");
  }
  if (socket.hello?.relay_types.includes(event.type)) outgoing.push(event);
}

// Batches go out a few times a second: fewer frames than one per event, still live.
setInterval(() => {
  if (!outgoing.length || !socket.conversationId) return;
  socket.relay(outgoing);
  outgoing = [];
}, RELAY_INTERVAL_MS);

async function hangup(reason = "hangup") {
  if (!call || ending) return;
  ending = true;
  socket.relay(outgoing.splice(0));
  call.hangup();
  stopMeter?.();
  call = null;
  setState("Saving the transcript…", "ending");
  const deadline = performance.now() + HANGUP_FLUSH_WAIT_MS;
  while (socket.unacked && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  socket.send({ type: "call.end", reason });
}

function finishCall(text, state) {
  if (call) call.hangup();
  call = null;
  stopMeter?.();
  ending = false;
  setCallControls(false);
  setState(text, state);
}

socket.addEventListener("hello", () => {
  setCallControls(Boolean(call));
  if (socket.conversationId) {
    socket.send({ type: "call.resume", conversation_id: socket.conversationId });
  } else {
    setState("Ready", "idle");
  }
});

socket.addEventListener("call.started", async ({ detail }) => {
  socket.adopt(detail.conversation_id);
  // The earlier turns, built by the server, go to the upstream before anyone speaks.
  const seed = detail.seed ?? [];
  if (seed.length) call.addEventListener("open", () => seed.forEach((e) => call.sendEvent(e)));
  if (detail.mode !== "brokered") return; // direct mode waits for call.key
  socket.send({ type: "call.offer", sdp: await call.createOffer() });
});

socket.addEventListener("call.answer", ({ detail }) => call?.acceptAnswer(detail.sdp));

socket.addEventListener("call.key", async ({ detail }) => {
  try {
    const offer = await call.createOffer();
    const callId = await call.postDirect(detail.calls_url, detail.key, offer);
    socket.send({ type: "call.connected", call_id: callId });
  } catch (error) {
    showError(error.message);
    hangup("direct_failed");
  }
});

socket.addEventListener("call.resumed", ({ detail }) => {
  transcript.applyTurns(detail.turns);
  socket.flush();
  if (call) {
    setState("Connected — speak now", "connected");
  } else if (!ending) {
    // A reload ended the page's call: save what is left, then close the conversation.
    ending = true;
    hangupWhenFlushed();
  }
});

async function hangupWhenFlushed() {
  while (socket.unacked) await new Promise((resolve) => setTimeout(resolve, 100));
  socket.send({ type: "call.end", reason: "page_reloaded" });
}

socket.addEventListener("events.ack", ({ detail }) => transcript.applyTurns(detail.turns));

socket.addEventListener("call.ended", ({ detail }) => {
  if (!socket.unacked) socket.forget();
  const byStaff = detail.reason === "ended_by_staff";
  finishCall(byStaff ? "A staff member ended the call" : "Call ended", "ended");
});

// A limit (length, idle, budget) ends the call soon: say so while there is time to wrap up.
socket.addEventListener("call.warning", ({ detail }) => {
  showError(`${detail.message} The call ends in ${detail.seconds_left} s.`);
});

socket.addEventListener("error", ({ detail }) => {
  showError(detail.message);
  if (detail.fatal) {
    socket.forget();
    finishCall("Call failed", "failed");
  }
});

socket.addEventListener("socket.closed", ({ detail }) => {
  if (detail.code === 4401) {
    showError("You are signed out. Sign in again to talk.");
    setState("Signed out", "signed-out");
    return;
  }
  setState(call ? "Reconnecting… (the call goes on)" : "Reconnecting…", "reconnecting");
  ui.start.disabled = true;
});

ui.start.addEventListener("click", start);
ui.hangup.addEventListener("click", () => hangup());
ui.mute.addEventListener("click", () => {
  const muted = ui.mute.getAttribute("aria-pressed") !== "true";
  call?.setMuted(muted);
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.textContent = muted ? "Unmute" : "Mute";
});
ui.textForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.textInput.value.trim();
  if (!text || !call) return;
  call.sendText(text);
  ui.textInput.value = "";
});

// For tests and manual checks: timings, heard audio, and a way to drop the signaling socket.
window.voiceapp = {
  timings,
  audioEnergy: () => call?.receivedAudioEnergy() ?? 0,
  dropSocket: () => socket.socket?.close(4000, "dropped on purpose"),
  unacked: () => socket.unacked,
};

setCallControls(false);
socket.connect();
