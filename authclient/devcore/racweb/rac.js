// The RAC page: Apache Guacamole's JavaScript client over the core's
// websocket tunnel (/ws/rac/<token>/), as authentik's web/src/rac does.
// window.rac exposes the client's state for tests and debugging.
import Guacamole from "/static/rac/guacamole-common.min.js";

const STATES = ["idle", "connecting", "waiting", "connected", "disconnecting", "disconnected"];
const statusEl = document.getElementById("status");
const displayEl = document.getElementById("display");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const tunnel = new Guacamole.WebSocketTunnel(scheme + location.host + document.body.dataset.ws);
// authentik's client gives the tunnel 10 s without data before it gives up;
// the outpost echoes the tunnel's pings, so an idle session stays up.
tunnel.receiveTimeout = 10000;
const client = new Guacamole.Client(tunnel);

const rac = {
  state: "idle",
  error: null,
  instructions: {},
  // pixel returns the default layer's RGBA at (x, y).
  pixel(x, y) {
    const canvas = client.getDisplay().getDefaultLayer().getCanvas();
    return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data);
  },
  size() {
    const d = client.getDisplay();
    return [d.getWidth(), d.getHeight()];
  },
  resize(w, h) { client.sendSize(w, h); },
  disconnect() { client.disconnect(); },
};
window.rac = rac;

const handle = tunnel.oninstruction;
tunnel.oninstruction = (opcode, args) => {
  rac.instructions[opcode] = (rac.instructions[opcode] || 0) + 1;
  if (handle) handle(opcode, args);
};
client.onstatechange = (s) => {
  rac.state = STATES[s] || String(s);
  statusEl.textContent = rac.state === "connected" ? "" : rac.state.charAt(0).toUpperCase() + rac.state.slice(1) + "…";
  if (rac.state === "disconnected" && rac.error) statusEl.textContent = "Disconnected: " + rac.error.message;
  else if (rac.state === "disconnected") statusEl.textContent = "Disconnected.";
};
client.onerror = (status) => {
  rac.error = { code: status.code, message: status.message || "error " + status.code };
  statusEl.textContent = "Error: " + rac.error.message;
};

displayEl.appendChild(client.getDisplay().getElement());
const mouse = new Guacamole.Mouse(client.getDisplay().getElement());
mouse.onEach(["mousedown", "mouseup", "mousemove"], (e) => client.sendMouseState(e.state, true));
const keyboard = new Guacamole.Keyboard(document);
keyboard.onkeydown = (keysym) => client.sendKeyEvent(1, keysym);
keyboard.onkeyup = (keysym) => client.sendKeyEvent(0, keysym);
window.addEventListener("resize", () => client.sendSize(window.innerWidth, window.innerHeight));
window.addEventListener("pagehide", () => client.disconnect());

const params = new URLSearchParams({
  screen_width: String(window.innerWidth),
  screen_height: String(window.innerHeight),
  screen_dpi: "96",
});
client.connect(params.toString());
