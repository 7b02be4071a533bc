// The WebRTC call: microphone up, the AI's voice down, JSON events on the `oai-events` channel.
//
// Events: "event" (every data-channel event, detail = the parsed event), "state"
// (detail = the RTCPeerConnection state), "open" (the data channel is ready).

const ICE_GATHERING_TIMEOUT_MS = 3000;

export class RtcCall extends EventTarget {
  constructor(microphone, audioElement) {
    super();
    this.microphone = microphone;
    this.audio = audioElement;
    // No STUN: the server side publishes its own candidates (and, on one machine, host ones do).
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.channel = this.pc.createDataChannel("oai-events");
    this.channel.addEventListener("open", () => this.dispatchEvent(new Event("open")));
    this.channel.addEventListener("message", (event) => this.#onChannelMessage(event));
    this.pc.addEventListener("track", (event) => {
      this.audio.srcObject = event.streams[0] ?? new MediaStream([event.track]);
    });
    this.pc.addEventListener("connectionstatechange", () =>
      this.dispatchEvent(new CustomEvent("state", { detail: this.pc.connectionState })),
    );
    for (const track of microphone.getAudioTracks()) this.pc.addTrack(track, microphone);
  }

  // The offer with its candidates: the answerer gets one SDP and no trickled candidates.
  async createOffer() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await iceGatheringDone(this.pc);
    return this.pc.localDescription.sdp;
  }

  async acceptAnswer(sdp) {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  // Direct mode: post the offer with the ephemeral key; returns the call id from Location.
  async postDirect(callsUrl, key, offerSdp) {
    const response = await fetch(callsUrl, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/sdp" },
      body: offerSdp,
    });
    if (response.status !== 201) {
      throw new Error(`The voice service refused the call (HTTP ${response.status}).`);
    }
    await this.acceptAnswer(await response.text());
    return (response.headers.get("Location") ?? "").split("/").pop();
  }

  sendEvent(event) {
    if (this.channel.readyState === "open") this.channel.send(JSON.stringify(event));
  }

  // A typed message into the voice call: a user item, then ask for a response.
  sendText(text) {
    this.sendEvent({
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
    });
    this.sendEvent({ type: "response.create" });
  }

  setMuted(muted) {
    for (const track of this.microphone.getAudioTracks()) track.enabled = !muted;
  }

  // Sum of the received audio's energy: above zero once the AI's voice has actually played.
  async receivedAudioEnergy() {
    let energy = 0;
    (await this.pc.getStats()).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        energy += report.totalAudioEnergy ?? 0;
      }
    });
    return energy;
  }

  hangup() {
    this.channel.close();
    this.pc.close();
    for (const track of this.microphone.getTracks()) track.stop();
    this.audio.srcObject = null;
  }

  #onChannelMessage(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return; // Not an event of the protocol: nothing to show or record.
    }
    this.dispatchEvent(new CustomEvent("event", { detail: event }));
  }
}

function iceGatheringDone(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    // Slow gathering (e.g. many interfaces) must not hold the call: send what we have.
    setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
  });
}
