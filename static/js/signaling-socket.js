// The signaling socket and its outbox (protocol: docs/signaling.md).
//
// Relayed data-channel events are sent in numbered batches and kept until the server acks
// them; the outbox lives in sessionStorage too, so a dropped socket or a page reload resends
// what was not acknowledged. The server stores batches idempotently, so resending is safe.

const STORAGE_KEY = "voiceapp.signaling";
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const CLOSE_UNAUTHENTICATED = 4401;
const ENCODER = new TextEncoder();

export class SignalingSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    // The last hello is kept while disconnected: its relay types still say what to queue.
    this.hello = null;
    this.ready = false;
    // Whether this socket holds the call (started or resumed): relays before that would be refused.
    this.holding = false;
    this.attempt = 0;
    this.stopped = false;
    this.state = loadState();
  }

  connect() {
    this.stopped = false;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("message", (event) => this.#onMessage(event));
    socket.addEventListener("close", (event) => this.#onClose(event));
  }

  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN && this.ready;
  }

  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ v: 1, ...message }));
    return true;
  }

  // The conversation whose batches the outbox holds (kept across reloads).
  get conversationId() {
    return this.state.conversationId;
  }

  adopt(conversationId) {
    if (this.state.conversationId !== conversationId) {
      this.state = { conversationId, nextSeq: 0, pending: [] };
    }
    saveState(this.state);
  }

  forget() {
    this.state = emptyState();
    sessionStorage.removeItem(STORAGE_KEY);
  }

  get unacked() {
    return this.state.pending.length;
  }

  // Queue events in numbered batches within the server's limits, and send them if we can.
  relay(events) {
    const limits = this.hello?.limits ?? {};
    const maxEvents = limits.max_batch_events ?? 32;
    // Room for the envelope ({"type": "events.relay", "seq": …}) around the events.
    const maxBytes = (limits.max_frame_bytes ?? 65536) - 1024;
    let batch = [];
    let bytes = 0;
    for (const event of events) {
      const size = ENCODER.encode(JSON.stringify(event)).length;
      // One oversized event would get its whole batch refused on every resend.
      if (size > (limits.max_event_bytes ?? 16384)) continue;
      if (batch.length && (batch.length >= maxEvents || bytes + size + 1 > maxBytes)) {
        this.#queue(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(event);
      bytes += size + 1;
    }
    if (batch.length) this.#queue(batch);
    saveState(this.state);
  }

  #queue(events) {
    const batch = { seq: this.state.nextSeq++, events };
    this.state.pending.push(batch);
    if (this.holding) this.send({ type: "events.relay", ...batch });
  }

  // Resend every batch not yet acknowledged (after call.resumed).
  flush() {
    for (const batch of this.state.pending) this.send({ type: "events.relay", ...batch });
  }

  close() {
    this.stopped = true;
    this.socket?.close(1000);
  }

  #onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "hello") {
      this.hello = message;
      this.ready = true;
      this.attempt = 0;
    } else if (message.type === "call.started" || message.type === "call.resumed") {
      this.holding = true;
    } else if (message.type === "events.ack") {
      this.state.pending = this.state.pending.filter((batch) => batch.seq !== message.seq);
      saveState(this.state);
    }
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  #onClose(event) {
    this.ready = false;
    this.holding = false;
    this.dispatchEvent(new CustomEvent("socket.closed", { detail: { code: event.code } }));
    if (this.stopped || event.code === CLOSE_UNAUTHENTICATED) return;
    // Full jitter: reconnecting clients spread out instead of arriving together.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt++);
    setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
  }
}

function emptyState() {
  return { conversationId: null, nextSeq: 0, pending: [] };
}

function loadState() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY)) ?? emptyState();
  } catch {
    return emptyState();
  }
}

function saveState(state) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
}

export function signalingUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/ws/signaling/`;
}
