// The join page's own code (issue 12). It redeems the one-time link (POST /api/link/<token>),
// then joins the room with JsSIP over the bot's WebSocket proxy (/ws). Mute is ConfBridge's
// own (DTMF *1 as SIP INFO, the keypad menu's toggle_mute), so Slack's roster sees it; the PIN,
// when the room asks for one, goes as DTMF too. window.conference is the page's state, for people
// debugging it and for the browser tests.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const token = location.pathname.split("/").pop();
  const saved = "conference-link:" + token;
  const conference = (window.conference = {
    state: "loading", room: null, error: null, ended: null, muted: false,
    pinSent: false, people: {}, messages: [], stats: null,
  });
  let ua = null, session = null, settings = null, started = 0, muteTimer = null;
  const MUTE_PROMPT_MS = 1600; // ConfBridge says "you are now (un)muted" and ignores keys meanwhile
  const MUTE_NO_ANSWER_MS = 4000;

  function status(text, state, error) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", Boolean(error));
    conference.state = state;
    if (error) conference.error = text;
  }

  async function load() {
    if (typeof JsSIP === "undefined") {
      status("Browser join is not built on this server: an admin runs ./dev setup.", "broken", true);
      return;
    }
    if (!navigator.mediaDevices) {
      status("This page needs a secure (https) address to use the microphone.", "broken", true);
      return;
    }
    // A reload of this tab before joining keeps the settings the link gave it (once).
    try { settings = JSON.parse(sessionStorage.getItem(saved) || "null"); } catch (_) { settings = null; }
    if (!settings) {
      const res = await fetch("/api/link/" + encodeURIComponent(token), {
        method: "POST", cache: "no-store", credentials: "omit",
      });
      let body = {};
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      if (!res.ok) {
        status(body.error || "This link cannot be used: ask for a new one in Slack.", "refused", true);
        return;
      }
      settings = body;
      try { sessionStorage.setItem(saved, JSON.stringify(body)); } catch (_) { /* private mode */ }
    }
    conference.room = settings.room_name;
    $("room").textContent = settings.room_name;
    document.title = "Join " + settings.room_name;
    $("join").disabled = false;
    status("Ready. Join uses your microphone.", "ready");
  }

  function wsUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + settings.ws_path;
  }

  function join() {
    $("join").disabled = true;
    status("Connecting…", "connecting");
    const socket = new JsSIP.WebSocketInterface(wsUrl());
    ua = new JsSIP.UA({
      sockets: [socket],
      uri: "sip:" + settings.sip_user + "@" + location.hostname,
      authorization_user: settings.sip_user,
      password: settings.password,
      display_name: settings.display_name,
      register: false,
      session_timers: false,
      // The credentials work for one call: reconnecting would only fail.
      connection_recovery_min_interval: 3600,
      connection_recovery_max_interval: 3600,
    });
    ua.on("newMessage", (e) => {
      if (e.originator !== "remote") return;
      const body = e.request.body || "";
      conference.messages.push(body.slice(0, 2000));
      if (conference.messages.length > 50) conference.messages.shift();
      try { onEvent(JSON.parse(body)); } catch (_) { /* not a ConfBridge event */ }
    });
    ua.on("connected", call);
    ua.on("disconnected", () => { if (!session) status("Could not reach the server.", "failed", true); });
    ua.start();
  }

  function call() {
    if (session) return;
    session = ua.call("sip:" + settings.target + "@" + location.hostname, {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: [] },
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    });
    session.on("peerconnection", (e) => {
      e.peerconnection.addEventListener("track", (t) => {
        // Asterisk's answer may carry no a=msid: then t.streams is empty.
        $("remote").srcObject = t.streams[0] || new MediaStream([t.track]);
      });
    });
    session.on("confirmed", () => {
      forget(); // the PBX deleted the link's account at the join
      started = Date.now();
      status("In the call.", "in-call");
      $("join").hidden = true;
      $("mute").disabled = false;
      $("leave").disabled = false;
      if (settings.ask_pin) { $("pin-box").hidden = false; $("pin").focus(); }
      tick();
    });
    session.on("failed", (e) => {
      const why = e.cause === "Authentication Error"
        ? "This link was already used or has expired: ask for a new one in Slack."
        : "Could not join: " + e.cause + ".";
      status(why, "failed", true);
      finish(e.cause);
    });
    session.on("ended", (e) => {
      status(e.originator === "local" ? "You left the call." : "The call ended (" + e.cause + ").", "ended");
      finish(e.cause);
    });
  }

  function forget() {
    try { sessionStorage.removeItem(saved); } catch (_) { /* private mode */ }
  }

  function finish(cause) {
    forget();
    conference.ended = cause;
    $("mute").disabled = true;
    $("leave").disabled = true;
    $("pin-box").hidden = true;
    if (ua) ua.stop();
  }

  function mine(channel) {
    return Boolean(settings) && String(channel.name || "").startsWith("PJSIP/" + settings.sip_user + "-");
  }

  function label(channel) {
    const caller = channel.caller || channel.caller_id || {};
    return caller.name || caller.number || channel.name || "Someone";
  }

  function onEvent(event) {
    // ConfBridge's in-call messages (application/x-asterisk-confbridge-event+json).
    if (!event || !Array.isArray(event.channels)) return;
    const list = $("people");
    for (const ch of event.channels) {
      const key = String(ch.id || ch.name);
      if (event.type === "ConfbridgeLeave") {
        delete conference.people[key];
        const gone = document.getElementById("p-" + key);
        if (gone) gone.remove();
        continue;
      }
      const person = conference.people[key] || (conference.people[key] = { talking: false, muted: false });
      person.name = label(ch);
      person.me = mine(ch);
      if (event.type === "ConfbridgeTalking") person.talking = ch.talking_status === "on";
      if (event.type === "ConfbridgeMute") person.muted = true;
      if (event.type === "ConfbridgeUnmute") person.muted = false;
      if (typeof ch.muted === "boolean") person.muted = ch.muted;
      let li = document.getElementById("p-" + key);
      if (!li) { li = document.createElement("li"); li.id = "p-" + key; list.appendChild(li); }
      li.textContent = person.name + (person.me ? " (you)" : "");
      li.classList.toggle("talking", person.talking);
      li.classList.toggle("muted", person.muted);
      if (person.me && (event.type === "ConfbridgeMute" || event.type === "ConfbridgeUnmute")) {
        showMuted(person.muted);
        if (muteTimer) { clearTimeout(muteTimer); muteTimer = setTimeout(muteSettled, MUTE_PROMPT_MS); }
      }
    }
  }

  function muteSettled() {
    clearTimeout(muteTimer);
    muteTimer = null;
    if (session && session.isEstablished()) $("mute").disabled = false;
  }

  function showMuted(muted) {
    conference.muted = muted;
    $("mute").textContent = muted ? "Unmute" : "Mute";
    $("mute").setAttribute("aria-pressed", String(muted));
  }

  function tick() {
    if (!session || session.isEnded()) return;
    const s = Math.floor((Date.now() - started) / 1000);
    $("timer").textContent = String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    setTimeout(tick, 1000);
  }

  conference.stats = async function () {
    if (!session || !session.connection) return null;
    const out = { sent: 0, received: 0, lost: 0, codec: null };
    (await session.connection.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp" && r.kind === "audio") out.sent = r.packetsSent;
      if (r.type === "inbound-rtp" && r.kind === "audio") { out.received = r.packetsReceived; out.lost = r.packetsLost; }
      if (r.type === "codec") out.codec = out.codec || r.mimeType;
    });
    return out;
  };

  $("join").addEventListener("click", join);
  $("mute").addEventListener("click", () => {
    if (!session || !session.isEstablished() || muteTimer) return;
    // ConfBridge's toggle_mute: the room, the Slack roster and this page all follow it. The
    // button waits for ConfBridge's answer and its spoken "muted"/"unmuted", during which
    // keys are not heard (SIP INFO: signalling, so no codec or clock rate can lose them).
    $("mute").disabled = true;
    session.sendDTMF("*1", { transportType: "INFO" });
    muteTimer = setTimeout(muteSettled, MUTE_NO_ANSWER_MS);
  });
  $("leave").addEventListener("click", () => { if (session) session.terminate(); });
  $("send-pin").addEventListener("click", () => {
    const pin = $("pin").value.replace(/\D/g, ""); // empty: just # (no PIN)
    if (!session || !session.isEstablished()) return;
    session.sendDTMF(pin + "#", { transportType: "INFO", duration: 120, interToneGap: 80 });
    conference.pinSent = true;
    $("pin").value = ""; // the box stays: a wrong PIN is asked for again
  });
  load().catch((e) => status("Error: " + e, "error", true));
})();
