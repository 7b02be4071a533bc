// The microphone: permission, errors a person can act on, and an input level.

const EXPLANATIONS = {
  NotAllowedError:
    "Microphone access was refused. Allow the microphone for this site in the browser's " +
    "address bar, then press Start again.",
  SecurityError: "The browser only allows the microphone on a secure (https) page.",
  NotFoundError: "No microphone was found. Connect one and press Start again.",
  NotReadableError: "The microphone is in use by another program, or the system blocked it.",
  OverconstrainedError: "The microphone cannot record in the format needed.",
};

export class MicrophoneError extends Error {}

export async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MicrophoneError(EXPLANATIONS.SecurityError);
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    const explanation = EXPLANATIONS[error.name] ?? `The microphone failed: ${error.message}`;
    throw new MicrophoneError(explanation);
  }
}

// Calls onLevel(0..1) about 20 times a second until the returned stop function is called.
export function watchLevel(stream, onLevel) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
    onLevel(Math.min(1, rms * 4));
  }, 50);
  return () => {
    clearInterval(timer);
    context.close();
  };
}
