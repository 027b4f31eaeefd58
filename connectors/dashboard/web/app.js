// Corb's dashboard: one event stream (/events) for everything; frames are
// fetched by version when the page is ready for one, so a busy page skips
// frames instead of queueing them.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const palette = ["#2563eb", "#c026d3", "#0891b2", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#65a30d"];
  const fmtTime = (t) => (t ? new Date(t).toLocaleTimeString([], { hour12: false }) : "");
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  let config = { zones: [], cameras: [], dead_letters: [] };
  const zones = new Map(); // id → zone message
  const zoneOrder = []; // ids, for stable colours
  let events = []; // timeline points, by time
  const cameras = new Map(); // id → {fig, canvas, caption, loading, want}
  const sms = new Map(); // id → <li>
  const dlq = new Map(); // topic → message

  const zoneColor = (id) => {
    let i = zoneOrder.indexOf(id);
    if (i < 0) i = zoneOrder.push(id) - 1;
    return palette[i % palette.length];
  };
  const zoneName = (id) => (zones.get(id) || {}).name || id;

  // --- the broker's state ------------------------------------------------
  function status(s) {
    const b = $("banner");
    b.textContent = s.message || "";
    b.hidden = !s.message;
    b.classList.toggle("down", !s.ok);
    document.body.dataset.kafka = s.ok ? "up" : "down";
  }

  // --- cameras -------------------------------------------------------------
  function camera(id) {
    let c = cameras.get(id);
    if (c) return c;
    const empty = $("cameras").querySelector(".empty");
    if (empty) empty.remove();
    const fig = el("figure", "camera");
    fig.dataset.camera = id;
    const canvas = el("canvas");
    canvas.width = 768;
    canvas.height = 432;
    canvas.dataset.drawn = "0";
    const caption = el("figcaption");
    fig.append(canvas, caption);
    $("cameras").append(fig);
    c = { fig, canvas, caption, loading: false, want: null };
    cameras.set(id, c);
    caption.append(el("b", "", id));
    return c;
  }

  function frame(f) {
    const c = camera(f.camera);
    c.want = f;
    if (!c.loading) load(c);
  }

  // load fetches the newest wanted frame; frames announced meanwhile replace
  // each other, and only the last is fetched next.
  function load(c) {
    const f = c.want;
    c.want = null;
    c.loading = true;
    const img = new Image();
    const next = () => {
      c.loading = false;
      if (c.want) load(c);
    };
    img.onload = () => {
      draw(c, img, f);
      next();
    };
    img.onerror = next; // gone already: the next frame event brings another
    img.src = "/frames/" + encodeURIComponent(f.camera) + "?v=" + f.v;
  }

  function draw(c, img, f) {
    const cv = c.canvas;
    const w = img.naturalWidth, h = img.naturalHeight;
    if (cv.width !== w || cv.height !== h) {
      cv.width = w;
      cv.height = h;
    }
    const g = cv.getContext("2d");
    g.drawImage(img, 0, 0, w, h);
    const lw = Math.max(2, Math.round(w / 320));
    const geo = config.cameras.find((x) => x.camera === f.camera);
    for (const z of geo ? geo.zones : []) {
      const color = zoneColor(z.zone);
      const occupied = (zones.get(z.zone) || {}).state === "occupied";
      g.beginPath();
      z.points.forEach(([x, y], i) => (i ? g.lineTo(x * w, y * h) : g.moveTo(x * w, y * h)));
      g.closePath();
      g.globalAlpha = occupied ? 0.22 : 0.08;
      g.fillStyle = color;
      g.fill();
      g.globalAlpha = 1;
      g.lineWidth = lw;
      g.strokeStyle = color;
      g.setLineDash(occupied ? [] : [8, 6]);
      g.stroke();
      g.setLineDash([]);
      const top = z.points.reduce((a, p) => (p[1] < a[1] || (p[1] === a[1] && p[0] < a[0]) ? p : a));
      label(g, z.name, Math.min(top[0] * w + 4, w - 90), Math.max(top[1] * h + 4, 2), color, lw);
    }
    for (const b of f.boxes) {
      const x = b.x1 * w, y = b.y1 * h, bw = (b.x2 - b.x1) * w, bh = (b.y2 - b.y1) * h;
      g.lineWidth = lw;
      g.strokeStyle = "#facc15";
      g.strokeRect(x, y, bw, bh);
      g.fillStyle = "#facc15";
      g.beginPath();
      g.arc(x + bw / 2, y + bh, lw * 1.6, 0, 2 * Math.PI); // where the person stands: what zones count
      g.fill();
      label(g, (b.label || "person") + " " + Math.round(b.score * 100) + "%", x, Math.max(y - 16 * (lw / 2), 0), "#a16207", lw);
    }
    cv.dataset.v = f.v;
    cv.dataset.seq = f.seq;
    cv.dataset.boxes = f.boxes.length;
    cv.dataset.detected = f.detected;
    cv.dataset.drawn = String(Number(cv.dataset.drawn) + 1);
    c.caption.replaceChildren(
      el("b", "", f.camera),
      el("span", "", `frame ${f.seq} · ${fmtTime(f.time)} · ` +
        (f.detected ? `${f.boxes.length} ${f.boxes.length === 1 ? "person" : "people"}` : "not detected")),
    );
  }

  function label(g, text, x, y, color, lw) {
    const size = Math.max(11, lw * 6);
    g.font = `600 ${size}px system-ui, sans-serif`;
    const tw = g.measureText(text).width;
    g.fillStyle = color;
    g.fillRect(x, y, tw + 8, size + 4);
    g.fillStyle = "#fff";
    g.textBaseline = "top";
    g.fillText(text, x + 4, y + 2);
  }

  // --- zones ---------------------------------------------------------------
  function zone(z) {
    zones.set(z.id, z);
    zoneColor(z.id);
    const box = $("zones");
    const empty = box.querySelector(".empty");
    if (empty) empty.remove();
    let card = box.querySelector(`[data-zone="${CSS.escape(z.id)}"]`);
    if (!card) {
      card = el("div", "zone");
      card.dataset.zone = z.id;
      box.append(card);
    }
    card.className = "zone " + z.state;
    card.dataset.state = z.state;
    card.dataset.count = z.count;
    const meta = z.state === "unknown" ? "no event yet" :
      (z.state === "occupied" ? `${z.count} ${z.count === 1 ? "person" : "people"} (peak ${z.peak}) · ` : "") +
      (z.since ? "since " + fmtTime(z.since) : "");
    const name = el("div", "name", z.name);
    name.prepend(swatch(z.id));
    card.replaceChildren(name, el("div", "state", z.state === "free" ? "free" : z.state), el("div", "meta", meta));
    if (z.stale) card.append(el("div", "stale", "cameras silent since " + fmtTime(z.updated)));
    scheduleTimeline();
  }

  function swatch(id) {
    const i = el("i");
    i.style.background = zoneColor(id);
    i.style.display = "inline-block";
    i.style.width = i.style.height = ".7rem";
    i.style.marginRight = ".35rem";
    i.style.borderRadius = "2px";
    return i;
  }

  // --- timeline ------------------------------------------------------------
  let timelineQueued = false;
  function scheduleTimeline() {
    if (timelineQueued) return;
    timelineQueued = true;
    requestAnimationFrame(() => {
      timelineQueued = false;
      timeline();
    });
  }

  function addEvent(e) {
    const t = Date.parse(e.time);
    let i = events.length;
    while (i > 0 && Date.parse(events[i - 1].time) > t) i--;
    events.splice(i, 0, e);
    if (events.length > 5000) events = events.slice(-5000);
    scheduleTimeline();
  }

  function timeline() {
    const cv = $("timeline");
    const ratio = window.devicePixelRatio || 1;
    const W = cv.clientWidth || 640, H = Math.round(W * 0.34);
    cv.width = W * ratio;
    cv.height = H * ratio;
    const g = cv.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, W, H);
    const padL = 28, padR = 8, padT = 8, padB = 22;
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#6b7280";
    if (events.length === 0) {
      g.fillText("No presence events yet.", padL, H / 2);
      cv.dataset.points = "0";
      return;
    }
    const times = events.map((e) => Date.parse(e.time));
    const end = times[times.length - 1];
    const start = Math.max(times[0], end - 30 * 60 * 1000);
    const span = Math.max(end - start, 60 * 1000);
    const t0 = end - span;
    const maxCount = Math.max(3, ...events.map((e) => e.count));
    const x = (t) => padL + ((t - t0) / span) * (W - padL - padR);
    const y = (n) => H - padB - (n / maxCount) * (H - padT - padB);
    // Axes and grid.
    g.strokeStyle = "#e5e7eb";
    g.lineWidth = 1;
    g.textBaseline = "middle";
    for (let n = 0; n <= maxCount; n += Math.ceil(maxCount / 4)) {
      g.beginPath();
      g.moveTo(padL, y(n));
      g.lineTo(W - padR, y(n));
      g.stroke();
      g.fillText(String(n), 6, y(n));
    }
    g.textBaseline = "top";
    for (let k = 0; k <= 4; k++) {
      const t = t0 + (span * k) / 4;
      const s = fmtTime(new Date(t).toISOString());
      const tx = Math.min(Math.max(x(t) - g.measureText(s).width / 2, 0), W - g.measureText(s).width);
      g.fillText(s, tx, H - padB + 6);
    }
    // One step line per zone, with its events marked.
    const byZone = new Map();
    events.forEach((e, i) => {
      if (times[i] < t0) return;
      if (!byZone.has(e.zone)) byZone.set(e.zone, []);
      byZone.get(e.zone).push([times[i], e]);
    });
    let points = 0;
    for (const [id, pts] of byZone) {
      const color = zoneColor(id);
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      const count = (e) => (e.type === "VACATED" ? 0 : e.count);
      pts.forEach(([t, e], i) => {
        if (i === 0) {
          g.moveTo(x(t), y(count(e)));
        } else {
          g.lineTo(x(t), y(count(pts[i - 1][1]))); // the count holds until the next event
          g.lineTo(x(t), y(count(e)));
        }
      });
      g.lineTo(x(end), y(count(pts[pts.length - 1][1])));
      g.stroke();
      for (const [t, e] of pts) {
        marker(g, e.type, x(t), y(count(e)), color);
        points++;
      }
    }
    cv.dataset.points = String(points);
    legend();
  }

  function marker(g, type, cx, cy, color) {
    g.fillStyle = color;
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    switch (type) {
      case "OCCUPIED":
        g.moveTo(cx, cy - 6); g.lineTo(cx + 5, cy + 3); g.lineTo(cx - 5, cy + 3); g.closePath(); g.fill();
        break;
      case "VACATED":
        g.fillStyle = "#fff";
        g.moveTo(cx, cy + 6); g.lineTo(cx + 5, cy - 3); g.lineTo(cx - 5, cy - 3); g.closePath(); g.fill(); g.stroke();
        break;
      case "STALE":
        g.moveTo(cx - 4, cy - 4); g.lineTo(cx + 4, cy + 4); g.moveTo(cx + 4, cy - 4); g.lineTo(cx - 4, cy + 4); g.stroke();
        break;
      case "RECOVERED":
        g.arc(cx, cy, 4, 0, 2 * Math.PI); g.stroke();
        break;
      default:
        g.arc(cx, cy, 2.5, 0, 2 * Math.PI); g.fill();
    }
  }

  function legend() {
    const box = $("legend");
    const items = zoneOrder.filter((id) => zones.has(id) || events.some((e) => e.zone === id)).map((id) => {
      const s = el("span", "", zoneName(id));
      s.prepend(swatch(id));
      return s;
    });
    items.push(el("span", "", "▲ occupied · ▽ vacated · • count changed · × stale · ○ recovered"));
    box.replaceChildren(...items);
  }

  // --- dead letters ----------------------------------------------------------
  function deadLetters() {
    const body = el("tbody");
    const head = el("tr");
    head.append(el("th", "", "topic"), el("th", "", "records"), el("th", "", "last"));
    body.append(head);
    for (const d of [...dlq.values()].sort((a, b) => a.topic.localeCompare(b.topic))) {
      const tr = el("tr", d.count > 0 ? "some" : "");
      tr.dataset.topic = d.topic;
      const why = d.count > 0 ? `${d.reason || "?"} in ${d.operator || "?"}: ${d.error || ""} (${fmtTime(d.last)})` : "";
      tr.append(el("td", "", d.topic), el("td", "count", String(d.count)), el("td", "reason", why));
      body.append(tr);
    }
    $("dlq").replaceChildren(body);
  }

  // --- conversation ----------------------------------------------------------
  function text(s) {
    const list = $("conversation");
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    let li = sms.get(s.id + s.dir);
    if (!li) {
      li = el("li");
      sms.set(s.id + s.dir, li);
      list.prepend(li); // newest first
      while (list.children.length > 200) {
        const old = list.lastElementChild;
        for (const [k, v] of sms) if (v === old) sms.delete(k);
        old.remove();
      }
    }
    li.className = s.dir;
    li.dataset.status = s.status || "";
    const right = el("span");
    if (s.dir === "out") {
      right.append(el("span", "kind", s.kind + " "), el("span", "status " + s.status, s.status + (s.error_code ? " " + s.error_code : "")));
    }
    li.replaceChildren(el("span", "time", fmtTime(s.time)), el("span", "who", s.phone), el("span", "text", s.text), right);
  }

  // --- the stream --------------------------------------------------------------
  function snapshot(s) {
    config = s.config;
    zones.clear();
    events = [];
    sms.clear();
    dlq.clear();
    $("zones").replaceChildren();
    $("conversation").replaceChildren();
    for (const z of config.zones) zoneColor(z.id);
    status(s.status);
    s.zones.forEach(zone);
    if (s.zones.length === 0) $("zones").append(el("p", "empty", "No zones yet."));
    s.events.forEach(addEvent);
    for (const d of s.dead_letters) dlq.set(d.topic, d);
    deadLetters();
    s.conversation.forEach(text);
    if (s.conversation.length === 0) $("conversation").append(el("li", "empty", "No texts yet."));
    s.frames.forEach(frame);
    scheduleTimeline();
  }

  const live = $("live");
  const es = new EventSource("/events");
  const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  es.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
  };
  es.onerror = () => {
    live.textContent = "dashboard unreachable; reconnecting…";
    live.className = "live off";
  };
  on("snapshot", snapshot);
  on("status", status);
  on("frame", frame);
  on("zone", zone);
  on("event", addEvent);
  on("dlq", (d) => {
    dlq.set(d.topic, d);
    deadLetters();
  });
  on("sms", text);
  window.addEventListener("resize", scheduleTimeline);
})();
