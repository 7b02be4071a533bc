// The usual tutorial broker, written for Voiceapp's benchmark: Express forwards the browser's SDP
// offer to the Realtime API (multipart, server key) and returns the answer; /token mints an
// ephemeral key. Same shape as OpenAI's realtime console sample. No auth, no storage: this is
// the floor a Node broker starts from, not a finished app.
import express from "express";

const port = Number(process.env.PORT);
const base = process.env.OPENAI_BASE_URL;
const apiKey = process.env.OPENAI_API_KEY;
const sessionConfig = JSON.stringify({
  type: "realtime",
  model: "gpt-realtime-2.1",
  audio: {
    input: { transcription: { model: "gpt-4o-mini-transcribe" }, turn_detection: { type: "server_vad" } },
    output: { voice: "marin" },
  },
});

const app = express();
app.use(express.text({ type: ["application/sdp", "text/plain"], limit: "64kb" }));

app.post("/session", async (req, res) => {
  const form = new FormData();
  form.set("sdp", req.body);
  form.set("session", sessionConfig);
  try {
    const upstream = await fetch(`${base}/realtime/calls`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}` },
      body: form,
    });
    res.status(upstream.status).type("application/sdp").send(await upstream.text());
  } catch (error) {
    res.status(502).json({ error: String(error) });
  }
});

app.post("/token", async (_req, res) => {
  try {
    const upstream = await fetch(`${base}/realtime/client_secrets`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ session: JSON.parse(sessionConfig) }),
    });
    res.status(upstream.status).json(await upstream.json());
  } catch (error) {
    res.status(502).json({ error: String(error) });
  }
});

app.listen(port, "127.0.0.1");
