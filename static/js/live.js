// The live inbox: one websocket to /ws/inbox/ (protocol: docs/live.md). Rows, queue counts,
// the task page's banner and the bell are redrawn from server-rendered fragments, so the
// pages read the same with or without this script. No inline script: data comes from
// data-* attributes and the json_script element #live-after.
(function () {
  "use strict";

  var cursor = {};      // stream -> last sequence applied
  var applied = [];     // recent event ids (an event may come on two streams)
  var attempt = 0;
  var socket = null;
  var stopped = false;

  function readCursor() {
    var node = document.getElementById("live-after");
    if (!node) return null;
    try { return JSON.parse(JSON.parse(node.textContent)); } catch (e) { return null; }
  }

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
      .then(function (r) { return r.status === 200 ? r.text() : Promise.reject(r.status); });
  }

  function fromHtml(html, tag) {
    var holder = document.createElement(tag === "tr" ? "tbody" : "div");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  function banner(text) {
    var node = document.getElementById("live-banner");
    if (!node) return;
    node.textContent = text + " ";
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Reload the page";
    node.appendChild(link);
  }

  function redrawCounts() {
    var counts = document.getElementById("queue-counts");
    if (!counts) return;
    fetchText("/inbox/counts/").then(function (html) { counts.replaceWith(fromHtml(html)); }, function () {});
  }

  function redrawRow(taskId, closed) {
    var table = document.querySelector("table[data-live-inbox]");
    if (!table) {
      if (document.querySelector(".empty-state") && !closed) drawFirstRows();
      return;
    }
    var row = table.querySelector('tr[data-task-id="' + taskId + '"]');
    if (closed) {
      if (row) row.remove();
      return;
    }
    fetchText("/tasks/" + taskId + "/row/").then(function (html) {
      var fresh = fromHtml(html, "tr");
      var current = table.querySelector('tr[data-task-id="' + taskId + '"]');
      if (current) current.replaceWith(fresh);
      else if (table.hasAttribute("data-live-insert")) table.tBodies[0].prepend(fresh);
    }, function (status) {
      var current = table.querySelector('tr[data-task-id="' + taskId + '"]');
      if (status === 404 && current) current.remove(); // out of the reader's reach now
    });
  }

  // An empty inbox has no table yet: take it from the page drawn afresh (no reload, so the
  // socket and the rest of the page stay as they are).
  function drawFirstRows() {
    fetchText(window.location.href).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("table[data-live-inbox]");
      if (!fresh) return;
      var table = document.querySelector("table[data-live-inbox]");
      var empty = document.querySelector(".empty-state");
      if (!table && empty) {
        empty.replaceWith(document.adoptNode(fresh));
        return;
      }
      // Two events raced to draw it: add the rows the first drawing did not have yet.
      if (!table) return;
      Array.prototype.forEach.call(fresh.querySelectorAll("tr[data-task-id]"), function (row) {
        if (!table.querySelector('tr[data-task-id="' + row.getAttribute("data-task-id") + '"]')) {
          table.tBodies[0].prepend(document.adoptNode(row));
        }
      });
    }, function () {});
  }

  function onTaskPage(event) {
    var node = document.querySelector("[data-task-page]");
    if (!node || String(event.data.task) !== node.getAttribute("data-task-page")) return;
    if (String(event.data.version) === node.getAttribute("data-task-version")) return;
    var who = event.data.actor ? " by " + event.data.actor : "";
    banner("This task changed while you were looking at it (" + event.topic.replace("task.", "") + who + ").");
  }

  function redrawBell() {
    var bell = document.getElementById("bell");
    if (!bell) return;
    var open = bell.querySelector("details") && bell.querySelector("details").open;
    fetchText("/notifications/bell/").then(function (html) {
      var fresh = fromHtml(html);
      if (open && fresh.querySelector("details")) fresh.querySelector("details").open = true;
      bell.replaceWith(fresh);
    }, function () {});
  }

  function apply(frame) {
    if (frame.stream) cursor[frame.stream] = frame.seq;
    if (applied.indexOf(frame.id) !== -1) return;
    applied.push(frame.id);
    if (applied.length > 200) applied.shift();
    if (frame.topic.indexOf("task.") === 0 && frame.data.task) {
      var closed = frame.data.state === "completed" || frame.data.state === "cancelled";
      redrawRow(frame.data.task, closed);
      redrawCounts();
      onTaskPage(frame);
    }
    document.dispatchEvent(new CustomEvent("live:event", { detail: frame }));
  }

  function outOfStep() {
    if (document.querySelector("table[data-live-inbox]") || document.querySelector(".empty-state")) {
      window.location.reload();
    } else {
      banner("Some updates could not be shown.");
    }
  }

  function onFrame(message) {
    var frame;
    try { frame = JSON.parse(message.data); } catch (e) { return; }
    switch (frame.type) {
      case "hello":
        attempt = 0;
        socket.send(JSON.stringify({ type: "resume", after: cursor }));
        break;
      case "event": apply(frame); break;
      case "resumed":
        cursor = frame.streams;
        // Subscribed and caught up: from here every event and bell reaches this page.
        document.documentElement.setAttribute("data-live", "live");
        break;
      case "refresh": outOfStep(); break;
      case "access_changed": cursor = frame.streams; outOfStep(); break;
      case "bell": redrawBell(); break;
      default: break;
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/inbox/");
    document.documentElement.setAttribute("data-live", "connecting");
    socket.onopen = function () { document.documentElement.setAttribute("data-live", "open"); };
    socket.onmessage = onFrame;
    socket.onclose = function (closed) {
      document.documentElement.setAttribute("data-live", "closed");
      // Not signed in / signed out: no point in trying again.
      if (stopped || closed.code === 4401 || closed.code === 4403) return;
      // Jittered exponential backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, each 50-100 % of that.
      var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      window.setTimeout(connect, delay);
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!("WebSocket" in window) || !window.fetch) return;
    var start = readCursor();
    if (start === null) {
      // Pages without a cursor still ring the bell: from now on.
      cursor = {};
    } else {
      cursor = start;
    }
    window.addEventListener("pagehide", function () { stopped = true; if (socket) socket.close(); });
    connect();
  });
})();
