// The sspr demo's virtual phone: follows the phone's state over a
// WebSocket, plays the call's audio (8 kHz PCM16 packets) with Web Audio,
// and sends the buttons' commands back.
(function () {
  "use strict";
  var phone = document.getElementById("phone");
  var stateText = document.getElementById("phone-state");
  var answer = document.getElementById("answer");
  var decline = document.getElementById("decline");
  var hangup = document.getElementById("hangup");
  var method = document.getElementById("method");
  var pressed = document.getElementById("pressed");
  var frames = document.getElementById("frames");
  var keys = Array.prototype.slice.call(document.querySelectorAll(".keypad .key"));
  var ws = null;
  var state = "offline";
  var audio = null;
  var playAt = 0;
  var received = 0;

  var words = {
    offline: "Not connected: is sspr demo running? Retrying…",
    idle: "Idle",
    ringing: "Ringing",
    connected: "On a call"
  };

  function show(s, number) {
    state = s;
    phone.className = "phone " + s;
    phone.setAttribute("data-state", s);
    var text = words[s] || s;
    if (s === "ringing" && number) {
      text = "Ringing: sspr is calling " + number;
    }
    stateText.textContent = text;
    answer.disabled = s !== "ringing";
    decline.disabled = s !== "ringing";
    hangup.disabled = s !== "connected";
    keys.forEach(function (k) { k.disabled = s !== "connected"; });
    if (s === "ringing") {
      pressed.textContent = "";
    }
  }

  function send(cmd) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(cmd));
    }
  }

  // startAudio makes the audio context in the click that answers, as
  // browsers allow sound to start only from a person's action.
  function startAudio() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) {
      return;
    }
    if (!audio) {
      try {
        audio = new AC();
      } catch (e) {
        audio = null;
        return;
      }
    }
    if (audio.state === "suspended") {
      audio.resume();
    }
  }

  function play(buf) {
    received++;
    frames.textContent = String(received);
    phone.setAttribute("data-frames", String(received));
    if (!audio) {
      return;
    }
    var pcm = new Int16Array(buf);
    var b = audio.createBuffer(1, pcm.length, 8000);
    var ch = b.getChannelData(0);
    for (var i = 0; i < pcm.length; i++) {
      ch[i] = pcm[i] / 32768;
    }
    var src = audio.createBufferSource();
    src.buffer = b;
    src.connect(audio.destination);
    var now = audio.currentTime;
    if (playAt < now + 0.02) {
      playAt = now + 0.08; // a little jitter buffer
    }
    src.start(playAt);
    playAt += b.duration;
  }

  function press(key) {
    if (state !== "connected") {
      return;
    }
    pressed.textContent += key;
    send({ op: "key", key: key, method: method.value });
  }

  function connect() {
    var url = new URL("/demo/phone/ws", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(url.href);
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") {
        play(ev.data);
        return;
      }
      var msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (msg.type === "state") {
        show(msg.state, msg.number);
      }
    };
    ws.onclose = function () {
      ws = null;
      show("offline");
      window.setTimeout(connect, 2000);
    };
  }

  answer.addEventListener("click", function () {
    startAudio();
    send({ op: "answer" });
  });
  decline.addEventListener("click", function () { send({ op: "decline" }); });
  hangup.addEventListener("click", function () { send({ op: "hangup" }); });
  keys.forEach(function (k) {
    k.addEventListener("click", function () { press(k.getAttribute("data-key")); });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || state !== "connected") {
      return;
    }
    var t = ev.target;
    if (t && (t.tagName === "SELECT" || t.tagName === "INPUT" || t.tagName === "TEXTAREA")) {
      return;
    }
    if (/^[0-9*#]$/.test(ev.key)) {
      ev.preventDefault();
      press(ev.key);
    }
  });
  show("offline");
  stateText.textContent = "Connecting…";
  connect();
})();
