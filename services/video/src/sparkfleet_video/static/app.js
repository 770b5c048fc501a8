/* sparkfleet video dashboard: plain JS, no build step, no external resources (charts: vendor/uPlot, pinned).
 * API contract: docs/video-api.md. All URLs are relative so the page also works behind a path prefix. */
(function () {
  "use strict";

  var KEY_STORE = "sparkfleet.video.apiKey";
  var TERMINAL = { done: 1, failed: 1, cancelled: 1 };

  // ------------------------------------------------------------------ helpers
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") n.textContent = v;
      else if (k === "className") n.className = v;
      else if (k.slice(0, 2) === "on") n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      n.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }
  function mmss(sec) {
    if (sec === null || sec === undefined || isNaN(sec)) return "--:--";
    sec = Math.max(0, Math.floor(Number(sec) + 1e-6));
    var m = Math.floor(sec / 60), s = sec % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }
  function secs(v) {
    if (v === null || v === undefined || isNaN(v)) return "—";
    v = Number(v);
    if (v < 60) return (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " s";
    return mmss(v) + " min";
  }
  function num(v, digits) {
    if (v === null || v === undefined || v === "" || isNaN(v)) return "—";
    v = Number(v);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return v.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function bytes(b) {
    if (b === null || b === undefined || isNaN(b)) return "—";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0; b = Number(b);
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + " " + u[i];
  }
  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var p = function (x) { return (x < 10 ? "0" : "") + x; };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function ago(iso) {
    var t = new Date(iso).getTime();
    if (isNaN(t)) return "";
    var s = Math.round((Date.now() - t) / 1000);
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  // ------------------------------------------------------------------ API key + fetch
  // The key lives in sessionStorage (this tab, until it closes), never in a cookie: a page on another site cannot
  // make the browser send it. A link may carry it as #key=KEY: the fragment never reaches the server or its logs,
  // and the page takes it out of the address bar at once.
  function getKey() { try { return sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; } }
  function setKey(k) {
    try { if (k) sessionStorage.setItem(KEY_STORE, k); else sessionStorage.removeItem(KEY_STORE); } catch (e) { /* ignore */ }
  }
  function keyFromFragment() {
    var m = /^#key=([^&]*)/.exec(location.hash || "");
    if (!m) return;
    setKey(decodeURIComponent(m[1]).trim());
    history.replaceState(null, "", location.pathname + location.search);
  }
  /** A URL for <video src> or EventSource, which cannot send X-API-Key: the service takes ?api_key= on these two. */
  function withKey(url) { var k = getKey(); return k ? url + "?api_key=" + encodeURIComponent(k) : url; }
  function authHeaders(h) {
    h = h || {};
    var k = getKey();
    if (k) h["X-API-Key"] = k;
    return h;
  }

  /** An API failure carrying the service's {"error": {code, message, hint}} fields. */
  function ApiError(status, body, fallback) {
    var e = (body && body.error) || {};
    if (typeof body === "object" && body && typeof body.detail === "string" && !e.message) e = { message: body.detail };
    this.status = status;
    this.code = e.code || (status ? "http_" + status : "network_error");
    this.message = e.message || fallback || ("HTTP " + status);
    this.hint = e.hint || "";
  }

  function parseBody(text) { try { return text ? JSON.parse(text) : null; } catch (e) { return null; } }

  function needKey(reason) {
    $("key-reason").textContent = reason || "This service needs an API key (it answered 401).";
    $("key-panel").hidden = false;
    $("key-input").focus();
  }

  /** fetch() with the key header; resolves to parsed JSON (or null for 204), rejects with ApiError. */
  function api(path, opts) {
    opts = opts || {};
    opts.headers = authHeaders(opts.headers || {});
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (text) {
        var body = parseBody(text);
        if (r.status === 401) needKey(getKey() ? "The saved API key was refused (401). Enter the right one." : null);
        if (!r.ok) throw new ApiError(r.status, body, text && !body ? text.slice(0, 300) : null);
        return body;
      });
    }, function (err) {
      throw new ApiError(0, null, "Cannot reach the service: " + (err && err.message ? err.message : err));
    });
  }

  function showError(box, err) {
    if (!err) { box.hidden = true; clear(box); return; }
    clear(box);
    box.appendChild(el("div", { className: "err-msg" }, [
      el("b", { text: (err.code || "error") + ": " }), err.message || String(err)]));
    if (err.hint) box.appendChild(el("div", { className: "err-hint", text: "Hint: " + err.hint }));
    box.hidden = false;
  }

  // ------------------------------------------------------------------ tabs / routing
  var refreshers = {};   // tab -> function called on show and by its timer
  var timers = {};
  var activeTab = "analyse";

  function showTab(name) {
    if (!$("view-" + name)) name = "analyse";
    activeTab = name;
    Array.prototype.forEach.call(document.querySelectorAll(".view"), function (v) { v.hidden = v.id !== "view-" + name; });
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (t) {
      t.classList.toggle("active", t.getAttribute("data-tab") === name);
      t.setAttribute("aria-selected", t.getAttribute("data-tab") === name ? "true" : "false");
    });
    Object.keys(timers).forEach(function (k) { clearInterval(timers[k]); delete timers[k]; });
    if (name === "system") { refreshSystem(); timers.system = setInterval(refreshSystem, 5000); }
    if (name === "jobs") { refreshJobs(); timers.jobs = setInterval(refreshJobs, 5000); }
    if (name === "bench") refreshBench();
  }

  function route() {
    var h = (location.hash || "").replace(/^#\/?/, "");
    var m = /^job\/(.+)$/.exec(h);
    if (m) { showTab("analyse"); if (!cur.job || cur.job.id !== decodeURIComponent(m[1])) openJob(decodeURIComponent(m[1])); return; }
    showTab(h || "analyse");
  }

  // ------------------------------------------------------------------ health pill (always, every 5 s)
  function stateClass(s) { return s === "ready" ? "ok" : s === "loading" ? "warn" : s ? "bad" : ""; }
  function setPill(node, state, label) {
    node.className = "pill " + stateClass(state);
    node.textContent = label;
    node.setAttribute("data-state", state || "");
  }
  function refreshHealth() {
    api("health").then(function (h) {
      var v = (h && h.vllm) || {};
      setPill($("health-pill"), v.state, "vLLM " + (v.state || "?") + (v.model ? " · " + v.model : ""));
    }, function (e) {
      setPill($("health-pill"), "down", e.status ? "service " + e.status : "service unreachable");
    });
  }

  // ------------------------------------------------------------------ Analyse
  var cur = { job: null, es: null, poll: null, localFile: null, localUrl: null, videoFor: null, segKey: "", blobUrl: null };

  function stopFollow() {
    if (cur.es) { cur.es.close(); cur.es = null; }
    if (cur.poll) { clearTimeout(cur.poll); cur.poll = null; }
  }

  function resetResult() {
    stopFollow();
    cur.job = null; cur.videoFor = null; cur.segKey = "";
    if (cur.blobUrl) { URL.revokeObjectURL(cur.blobUrl); cur.blobUrl = null; }
    var v = $("video"); v.pause(); v.removeAttribute("src"); v.load();
    clear($("segments")); clear($("job-meta"));
    Array.prototype.slice.call($("timeline").querySelectorAll(".tl-seg")).forEach(function (n) { n.remove(); });
    $("summary").innerHTML = '<span class="muted">—</span>';
    $("video-note").textContent = "";
    $("result-body").hidden = true; $("result-empty").hidden = false;
    $("job-state").hidden = true;
    $("job-id-line").textContent = ""; $("job-progress-text").textContent = "";
    showError($("job-error"), null);
  }

  function submitJob(ev) {
    ev.preventDefault();
    var file = $("file-input").files[0];
    var url = $("url-input").value.trim();
    var prompt = $("prompt-input").value;
    if (!file && !url) { showError($("job-error"), { code: "missing_video", message: "Choose a video file or enter a URL.", hint: "" }); return; }
    if (!prompt.trim()) { showError($("job-error"), { code: "missing_prompt", message: "The prompt is empty.", hint: "Say what to look for in the video." }); return; }
    resetResult();
    if (/^#job\//.test(location.hash)) history.replaceState(null, "", "#analyse");
    var fd = new FormData();
    if (file) fd.append("file", file, file.name); else fd.append("url", url);
    fd.append("prompt", prompt);
    if ($("segment-input").value) fd.append("segment_seconds", $("segment-input").value);
    if ($("fps-input").value) fd.append("fps", $("fps-input").value);
    cur.localFile = file || null;

    var btn = $("submit-button");
    btn.disabled = true; btn.textContent = "Uploading…";
    $("job-state").hidden = false;
    setStatus("uploading", file ? "sending " + bytes(file.size) : "sending URL");
    $("job-progress").max = 1; $("job-progress").value = 0;

    // XMLHttpRequest (not fetch) so the upload's progress can be shown.
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "v1/jobs");
    var h = authHeaders({}); Object.keys(h).forEach(function (k) { xhr.setRequestHeader(k, h[k]); });
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      $("job-progress").max = e.total; $("job-progress").value = e.loaded;
      $("job-progress-text").textContent = "upload " + Math.round(100 * e.loaded / e.total) + "% (" + bytes(e.loaded) + " of " + bytes(e.total) + ")";
    };
    xhr.onload = function () {
      btn.disabled = false; btn.textContent = "Analyse";
      var body = parseBody(xhr.responseText);
      if (xhr.status === 401) needKey(getKey() ? "The saved API key was refused (401)." : null);
      if (xhr.status < 200 || xhr.status >= 300 || !body || !body.id) {
        var err = new ApiError(xhr.status, body, xhr.responseText ? xhr.responseText.slice(0, 300) : "empty answer");
        var ra = xhr.getResponseHeader("Retry-After");
        if (ra && !err.hint) err.hint = "Retry in " + ra + " s.";
        else if (ra) err.hint += " (retry in " + ra + " s)";
        setStatus("rejected", "HTTP " + xhr.status);
        $("job-progress").value = 0; $("job-progress-text").textContent = "";
        showError($("job-error"), err);
        return;
      }
      history.replaceState(null, "", "#job/" + encodeURIComponent(body.id));
      renderJob(body);
      if (!TERMINAL[body.status]) follow(body.id);
    };
    xhr.onerror = function () {
      btn.disabled = false; btn.textContent = "Analyse";
      setStatus("rejected", "");
      $("job-progress").value = 0; $("job-progress-text").textContent = "";
      showError($("job-error"), new ApiError(0, null, "The upload failed: the service could not be reached or closed the connection."));
    };
    xhr.send(fd);
  }

  function openJob(id) {
    resetResult();
    cur.localFile = null;
    $("job-state").hidden = false;
    setStatus("loading", id);
    api("v1/jobs/" + encodeURIComponent(id)).then(function (job) {
      renderJob(job);
      if (!TERMINAL[job.status]) follow(job.id);
    }, function (e) { setStatus("error", ""); showError($("job-error"), e); });
  }

  /** Follow a job live: EventSource (the key as ?api_key=, it sends no headers); polling where there is none. */
  function follow(id) {
    stopFollow();
    if (window.EventSource) {
      var es = new EventSource(withKey("v1/jobs/" + encodeURIComponent(id) + "/events"));
      cur.es = es;
      var onData = function (e) {
        var job = parseBody(e.data);
        if (job && job.id === id && cur.job && cur.job.id === id) renderJob(job);
      };
      es.addEventListener("progress", onData);
      es.addEventListener("message", onData);
      es.addEventListener("end", function (e) {
        onData(e); es.close(); if (cur.es === es) cur.es = null;
        // make sure the final state (summary, timings) is shown
        api("v1/jobs/" + encodeURIComponent(id)).then(function (job) { if (cur.job && cur.job.id === id) renderJob(job); }, function () {});
      });
      es.onerror = function () {
        // stream broke (401, proxy, restart): fall back to polling unless finished
        es.close(); if (cur.es === es) cur.es = null;
        if (cur.job && cur.job.id === id && !TERMINAL[cur.job.status]) poll(id, 0);
      };
    } else {
      poll(id, 0);
    }
  }

  function poll(id, failures) {
    if (cur.poll) clearTimeout(cur.poll);
    cur.poll = setTimeout(function () {
      cur.poll = null;
      if (!cur.job || cur.job.id !== id) return;
      api("v1/jobs/" + encodeURIComponent(id)).then(function (job) {
        if (!cur.job || cur.job.id !== id) return;
        renderJob(job);
        if (!TERMINAL[job.status]) poll(id, 0);
      }, function (e) {
        if (!cur.job || cur.job.id !== id) return;
        if (e.status === 401 || e.status === 404) { showError($("job-error"), e); return; }
        $("job-status-detail").textContent = "(connection problem, retrying…)";
        poll(id, failures + 1);
      });
    }, failures ? Math.min(10000, 1000 * Math.pow(2, failures)) : 1000);
  }

  function setStatus(status, detail) {
    var s = $("job-status");
    s.textContent = status;
    s.setAttribute("data-status", status);
    s.className = "status st-" + status;
    $("job-status-detail").textContent = detail || "";
  }

  function renderJob(job) {
    cur.job = job;
    $("result-empty").hidden = true;
    $("result-body").hidden = false;
    $("job-state").hidden = false;

    var p = job.progress || {};
    var total = p.segments_total || (job.segments ? job.segments.length : 0);
    var done = p.segments_done || 0;
    var detail = job.source && job.source.name ? job.source.name : "";
    setStatus(job.status, detail);
    var bar = $("job-progress");
    if (total) { bar.max = total; bar.value = done; }
    else if (TERMINAL[job.status]) { bar.max = 1; bar.value = job.status === "done" ? 1 : 0; }
    else { bar.removeAttribute("value"); }  // indeterminate while queued/probing
    $("job-progress-text").textContent = total ? done + " / " + total + " segments" : (TERMINAL[job.status] ? "" : job.status + "…");
    $("job-id-line").textContent = job.id + (job.created_at ? " · " + when(job.created_at) : "");

    if (job.error) showError($("job-error"), typeof job.error === "object" ? job.error : { code: job.status, message: String(job.error) });
    else showError($("job-error"), null);

    if (cur.videoFor !== job.id) setVideo(job);
    renderSegments(job);
    renderSummary(job);
    renderMeta(job);
  }

  function setVideo(job) {
    cur.videoFor = job.id;
    var v = $("video"), note = $("video-note");
    var src = "v1/jobs/" + encodeURIComponent(job.id) + "/video";
    note.textContent = "";
    v.onerror = function () {
      // find out why (410 expired, 401, 404) and say so
      fetch(src, { headers: authHeaders({ Range: "bytes=0-0" }) }).then(function (r) {
        if (r.ok) { note.textContent = "The browser cannot play this video (codec " + ((job.video && job.video.codec) || "?") + "); the segments still apply."; return; }
        return r.text().then(function (t) { var e = new ApiError(r.status, parseBody(t)); note.textContent = "Video unavailable: " + e.message + (e.hint ? " — " + e.hint : ""); });
      }, function () { note.textContent = "Video unavailable."; });
    };
    v.src = withKey(src);                      // the server answers Range requests for seeking
  }

  function renderSegments(job) {
    var segs = (job.segments || []).slice().sort(function (a, b) { return a.start_s - b.start_s; });
    var key = JSON.stringify(segs.map(function (s) { return [s.index, s.start_s, s.end_s, s.status, s.text, s.error]; }));
    if (key === cur.segKey) return;
    cur.segKey = key;
    var list = clear($("segments"));
    var tl = $("timeline");
    Array.prototype.slice.call(tl.querySelectorAll(".tl-seg")).forEach(function (n) { n.remove(); });
    var total = (job.video && job.video.duration_s) || (segs.length ? segs[segs.length - 1].end_s : 0) || 1;
    var doneCount = 0;
    segs.forEach(function (s) {
      if (s.status === "done") doneCount++;
      var errText = s.error ? (typeof s.error === "object" ? (s.error.message || JSON.stringify(s.error)) : String(s.error)) : "";
      var body = s.text ? s.text : (s.status === "failed" ? (errText || "failed") : (s.status === "running" ? "analysing…" : "waiting…"));
      var li = el("li", {
        className: "segment seg-" + (s.status || "done"), "data-testid": "segment",
        "data-start": s.start_s, "data-end": s.end_s, "data-index": s.index, "data-status": s.status || "",
        tabindex: "0", title: "Play from " + mmss(s.start_s),
        onclick: function () { seek(s.start_s); },
        onkeydown: function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); seek(s.start_s); } }
      }, [
        el("span", { className: "seg-time", "data-testid": "segment-time", text: mmss(s.start_s) + "–" + mmss(s.end_s) }),
        el("span", { className: "seg-text" + (s.text ? "" : " muted"), "data-testid": "segment-text", text: body }),
        s.status && s.status !== "done" ? el("span", { className: "badge st-" + s.status, text: s.status }) : null
      ]);
      list.appendChild(li);
      tl.appendChild(el("div", {
        className: "tl-seg seg-" + (s.status || "done"), "data-index": s.index,
        style: "left:" + (100 * s.start_s / total) + "%;width:" + Math.max(0.3, 100 * (s.end_s - s.start_s) / total) + "%",
        title: mmss(s.start_s) + "–" + mmss(s.end_s) + (s.text ? ": " + s.text.slice(0, 120) : ""),
        onclick: function () { seek(s.start_s); }
      }));
    });
    $("seg-count").textContent = segs.length ? "(" + doneCount + "/" + segs.length + " done)" : "";
    highlight();
  }

  function seek(t) {
    var v = $("video");
    var go = function () {
      try { v.currentTime = Number(t); } catch (e) { /* not seekable yet */ }
      var pr = v.play(); if (pr && pr.catch) pr.catch(function () {});
      highlight(Number(t));
    };
    if (v.readyState >= 1) go(); else { v.addEventListener("loadedmetadata", go, { once: true }); if (v.preload === "none") v.load(); }
  }

  function highlight(at) {
    var v = $("video");
    var t = at !== undefined ? at : v.currentTime;
    var items = $("segments").querySelectorAll(".segment");
    var curIdx = -1;
    for (var i = 0; i < items.length; i++) {
      var s = Number(items[i].getAttribute("data-start")), e = Number(items[i].getAttribute("data-end"));
      if (t >= s && (t < e || i === items.length - 1 && t <= e + 0.5)) { curIdx = i; break; }
    }
    for (var j = 0; j < items.length; j++) {
      var on = j === curIdx;
      if (items[j].classList.contains("current") !== on) {
        items[j].classList.toggle("current", on);
        items[j].setAttribute("data-current", on ? "true" : "false");
        if (on && !v.paused) items[j].scrollIntoView({ block: "nearest" });
      }
    }
    var tlSegs = $("timeline").querySelectorAll(".tl-seg");
    for (var k = 0; k < tlSegs.length; k++) tlSegs[k].classList.toggle("current", k === curIdx);
    var job = cur.job, dur = (job && job.video && job.video.duration_s) || v.duration;
    $("playhead").style.left = dur && isFinite(dur) ? Math.min(100, 100 * t / dur) + "%" : "0";
  }

  function renderSummary(job) {
    var box = $("summary");
    if (job.summary) { box.textContent = job.summary; return; }
    box.innerHTML = "";
    box.appendChild(el("span", { className: "muted", text: TERMINAL[job.status] ? "no summary" : "the summary follows when all segments are done" }));
  }

  function renderMeta(job) {
    var dl = clear($("job-meta"));
    var u = job.usage || {}, t = job.timings || {}, vid = job.video || {}, o = job.options || {};
    var add = function (k, v, tid) { dl.appendChild(el("div", null, [el("dt", { text: k }), el("dd", { text: v, "data-testid": tid || null })])); };
    add("Model", job.model || "—", "model");
    add("Tokens", u.prompt_tokens !== undefined || u.completion_tokens !== undefined
      ? num(u.prompt_tokens) + " in · " + num(u.completion_tokens) + " out" : "—", "usage");
    add("Timings", t.total_s !== undefined ? "probe " + secs(t.probe_s) + " · analysis " + secs(t.analysis_s) + " · total " + secs(t.total_s) : "—", "timings");
    add("Video", vid.duration_s !== undefined ? [secs(vid.duration_s), vid.width && vid.height ? vid.width + "×" + vid.height : null, vid.codec, bytes(vid.size_bytes)].filter(Boolean).join(" · ") : "—", "video-facts");
    add("Options", "segments of " + (o.segment_seconds || "?") + " s · " + (o.fps || "?") + " fps");
    add("Prompt", job.prompt || "—");
  }

  // ------------------------------------------------------------------ Jobs
  function refreshJobs() {
    var f = $("jobs-filter").value;
    api("v1/jobs?limit=50" + (f ? "&status=" + encodeURIComponent(f) : "")).then(function (r) {
      showError($("jobs-error"), null);
      var body = clear($("jobs-body"));
      var jobs = (r && r.jobs) || [];
      $("jobs-note").textContent = jobs.length + " job" + (jobs.length === 1 ? "" : "s") + " · updated " + new Date().toLocaleTimeString();
      if (!jobs.length) { body.appendChild(el("tr", null, [el("td", { colspan: 8, className: "muted center", text: "no jobs yet" })])); return; }
      jobs.forEach(function (j) {
        var p = j.progress || {}, t = j.timings || {};
        var err = j.error ? (typeof j.error === "object" ? j.error.message || j.error.code : String(j.error)) : "";
        var tr = el("tr", {
          className: "clickable", "data-testid": "job-row", "data-job-id": j.id, "data-status": j.status, title: "Open " + j.id,
          onclick: function () { location.hash = "#job/" + encodeURIComponent(j.id); }
        }, [
          el("td", null, [el("span", { className: "status small st-" + j.status, text: j.status })]),
          el("td", { title: when(j.created_at), text: ago(j.created_at) }),
          el("td", { className: "ellipsis", text: (j.source && j.source.name) || "—" }),
          el("td", { text: j.video && j.video.duration_s !== undefined ? mmss(j.video.duration_s) : "—" }),
          el("td", { text: t.total_s !== undefined && t.total_s !== null ? secs(t.total_s) : "—" }),
          el("td", { text: p.segments_total ? (p.segments_done || 0) + "/" + p.segments_total : "—" }),
          el("td", { className: "ellipsis" + (err ? " errtext" : " muted"), text: err || j.prompt || "" }),
          el("td", null, [el("button", {
            type: "button", className: "danger small", "data-testid": "job-delete", text: TERMINAL[j.status] ? "Delete" : "Cancel",
            onclick: function (e) {
              e.stopPropagation();
              if (!confirm((TERMINAL[j.status] ? "Delete" : "Cancel and delete") + " job " + j.id + "?")) return;
              api("v1/jobs/" + encodeURIComponent(j.id), { method: "DELETE" }).then(function () {
                if (cur.job && cur.job.id === j.id) resetResult();
                refreshJobs();
              }, function (er) { showError($("jobs-error"), er); });
            }
          })])
        ]);
        body.appendChild(tr);
      });
    }, function (e) { showError($("jobs-error"), e); });
  }

  // ------------------------------------------------------------------ System
  // Charts are drawn by uPlot (vendor/, see its README); these two wrap it for the dashboard's needs.
  function cssVar(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }
  function plot(box, options, data) {
    if (box._plot) { box._plot.destroy(); box._plot = null; }
    clear(box);
    options.width = Math.max(240, box.clientWidth || 520);
    box._plot = new uPlot(options, data, box);
  }
  function noData(box, text) {
    if (box._plot) { box._plot.destroy(); box._plot = null; }
    clear(box).appendChild(el("p", { className: "muted small", text: text }));
  }

  /** A time series [[unix_s, value], ...], its area filled, the y axis from 0. */
  function lineChart(box, points, opts) {
    opts = opts || {};
    if (!points || points.length < 2) { noData(box, "no data yet"); return; }
    var data = [points.map(function (p) { return Number(p[0]); }), points.map(function (p) { return Number(p[1]) || 0; })];
    plot(box, {
      height: opts.height || 160, legend: { show: false }, cursor: { show: false },
      scales: { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [{}, { size: 44, values: function (u, ticks) { return ticks.map(function (t) { return num(t, t < 10 ? 1 : 0); }); } }],
      series: [{}, { label: opts.label || "value", stroke: cssVar("--accent", "#2563eb"), width: 2,
                     fill: cssVar("--accent-soft", "rgba(37,99,235,0.12)"), points: { show: false } }]
    }, data);
  }

  /** One bar per {label, value}, labels under the bars. */
  function barChart(box, bars, opts) {
    opts = opts || {};
    if (!bars.length) { if (box._plot) { box._plot.destroy(); box._plot = null; } clear(box); return; }
    var labels = bars.map(function (b) { return String(b.label).slice(0, 32); });
    var xs = bars.map(function (b, i) { return i; });
    plot(box, {
      title: opts.label || "", height: 220, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, bars.length - 0.5] },
                y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [{ splits: function () { return xs; }, values: function (u, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); },
               size: 60, gap: 4 },
             { size: 50, values: function (u, ticks) { return ticks.map(function (t) { return num(t, t < 10 ? 1 : 0); }); } }],
      series: [{}, { label: opts.label || "value", fill: cssVar("--accent", "#2563eb"), stroke: cssVar("--accent", "#2563eb"),
                     paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }]
    }, [xs, bars.map(function (b) { return b.value; })]);
  }

  function refreshSystem() {
    var h = api("health").catch(function (e) { return { _err: e }; });
    var sys = api("api/system").catch(function (e) { return { _err: e }; });
    Promise.all([h, sys]).then(function (r) {
      var health = r[0], s = r[1];
      if (s._err && health._err) { showError($("system-error"), s._err); return; }
      showError($("system-error"), s._err || null);
      var v = Object.assign({}, (health && health.vllm) || {}, (s && s.vllm) || {});
      setPill($("vllm-state"), v.state, v.state || "unknown");
      $("vllm-model").textContent = v.model || "—";
      $("vllm-running").textContent = num(v.requests_running);
      $("vllm-waiting").textContent = num(v.requests_waiting);
      var kv = v.kv_cache_usage;
      if (kv !== null && kv !== undefined && !isNaN(kv)) {
        var pct = Number(kv) <= 1 ? Number(kv) * 100 : Number(kv);   // a fraction (vLLM's gauge) or already %
        $("kv-text").textContent = pct.toFixed(1) + " %";
        $("kv-bar").style.width = Math.min(100, pct) + "%";
      } else { $("kv-text").textContent = "—"; $("kv-bar").style.width = "0"; }
      var tps = (v.tokens_per_s || []).filter(function (p) { return p && p.length >= 2; });
      $("tps-now").textContent = tps.length ? "(now " + num(tps[tps.length - 1][1], 1) + ")" : "";
      lineChart($("tps-chart"), tps, { label: "tokens per second" });

      var host = (s && s.host) || {};
      if (host.memory_total_mib) {
        var used = host.memory_total_mib - (host.memory_available_mib || 0);
        $("mem-bar").style.width = (100 * used / host.memory_total_mib).toFixed(1) + "%";
        $("mem-text").textContent = (used / 1024).toFixed(1) + " GiB used of " + (host.memory_total_mib / 1024).toFixed(1) +
          " GiB (" + ((host.memory_available_mib || 0) / 1024).toFixed(1) + " GiB available)";
      } else { $("mem-text").textContent = "—"; $("mem-bar").style.width = "0"; }

      var g = $("gpu"); clear(g);
      if (s._err) g.textContent = "—";
      else if (!s.gpu || (typeof s.gpu === "object" && !Object.keys(s.gpu).length)) g.appendChild(el("span", { className: "muted", text: "no GPU", "data-testid": "no-gpu" }));
      else {
        var dl = el("dl", { className: "kv" });
        flatten(s.gpu, "").forEach(function (kvp) {
          dl.appendChild(el("dt", { text: kvp[0].replace(/_/g, " ") }));
          dl.appendChild(el("dd", { text: kvp[1] }));
        });
        g.appendChild(dl);
      }
      $("system-updated").textContent = "updated " + new Date().toLocaleTimeString() + " · every 5 s";
    });
  }

  /** [[dotted.key, display value], ...] of a nested object (arrays of scalars joined). */
  function flatten(o, prefix) {
    var out = [];
    Object.keys(o || {}).forEach(function (k) {
      var v = o[k], key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) out = out.concat(flatten(v, key));
      else if (Array.isArray(v)) out.push([key, v.map(function (x) { return typeof x === "object" ? JSON.stringify(x) : String(x); }).join(", ")]);
      else out.push([key, v === null || v === undefined ? "—" : typeof v === "number" ? num(v) : String(v)]);
    });
    return out;
  }

  // ------------------------------------------------------------------ Bench & notes
  function refreshBench() {
    api("api/bench").then(function (r) {
      showError($("bench-error"), null);
      renderBench((r && r.results) || []);
    }, function (e) { showError($("bench-error"), e); clear($("bench")); clear($("bench-chart")); });
    api("api/notes").then(function (r) {
      var box = $("notes");
      if (r && r.html) box.innerHTML = r.html;   // rendered and sanitized on the server (markdown-it-py + nh3)
      else { box.innerHTML = ""; box.appendChild(el("p", { className: "muted", "data-testid": "notes-empty", text: "no notes yet" })); }
    }, function (e) { var box = clear($("notes")); box.appendChild(el("p", { className: "errtext", text: e.message })); });
  }

  function renderBench(results) {
    var box = clear($("bench")), chart = $("bench-chart");
    if (!Array.isArray(results)) results = [results];
    if (!results.length) { box.appendChild(el("p", { className: "muted", "data-testid": "bench-empty", text: "no benchmark yet" })); clear(chart); return; }
    var isRun = function (r) { return !!(r && r.result && Array.isArray(r.result.scenarios)); };
    var runs = results.filter(isRun), others = results.filter(function (r) { return !isRun(r); });
    runs.forEach(function (r) { box.appendChild(benchRun(r)); });
    if (runs.length) {
      // output throughput of the newest run, scenario by scenario
      var newest = runs[0].result;
      barChart(chart, newest.scenarios.filter(function (sc) { return typeof sc.output_throughput === "number"; })
        .map(function (sc) { return { label: sc.name, value: sc.output_throughput }; }),
        { label: "output tokens/s, " + (newest.id || "newest run") });
    }
    if (others.length) {
      if (runs.length) box.appendChild(el("h3", { text: "Other files" }));
      renderBenchGeneric(box, runs.length ? el("div") : chart, others);
    }
  }

  /** One sparkfleet bench result (schema 1, docs/run-data.md): what ran where, its warnings, a row per scenario. */
  function benchRun(entry) {
    var r = entry.result, c = r.conditions || {}, gpu = c.gpu;
    var section = el("section", { className: "bench-run card", "data-testid": "bench-run", "data-bench-id": r.id || entry.file });
    section.appendChild(el("h3", { text: (r.id || entry.file) }));
    var facts = [r.host, r.model + (r.model_revision ? " @ " + String(r.model_revision).slice(0, 12) : ""),
      "vLLM " + (r.vllm_version || "?"), when(r.started_at) + (r.duration_s !== undefined ? " (" + num(r.duration_s, 1) + " s)" : ""),
      "seed " + r.seed, r.profile ? "profile " + r.profile : null].filter(Boolean);
    section.appendChild(el("p", { className: "muted small", text: facts.join(" · ") }));
    var cond = ["memory available " + num(c.memory_available_mib) + " of " + num(c.memory_total_mib) + " MiB",
      "pressure " + (c.memory_psi_some_avg10 === null || c.memory_psi_some_avg10 === undefined ? "—" : num(c.memory_psi_some_avg10, 1) + " %"),
      gpu ? gpu.name + ": SM clock peak " + num(gpu.clock_sm_peak_mhz) + " of " + num(gpu.clock_sm_max_mhz) + " MHz" : "no GPU"];
    section.appendChild(el("p", { className: "muted small", text: cond.join(" · ") }));
    if ((r.warnings || []).length) {
      section.appendChild(el("ul", { className: "bench-warnings" }, r.warnings.map(function (w) {
        return el("li", { className: "errtext", "data-testid": "bench-warning", text: w });
      })));
    }
    var ms = function (m, k) { return m && m[k] !== undefined ? num(m[k], 1) : "—"; };
    var cols = [["scenario", function (sc) { return sc.name; }],
      ["traffic", function (sc) { return sc.traffic + (sc.video ? " " + sc.video.width + "×" + sc.video.height + "×" + sc.video.frames : ""); }],
      ["concurrency", function (sc) { return num(sc.concurrency); }],
      ["ok / failed", function (sc) { return num(sc.completed) + " / " + num(sc.failed); }],
      ["req/s", function (sc) { return num(sc.request_throughput, 2); }],
      ["output tok/s", function (sc) { return num(sc.output_throughput, 1); }],
      ["TTFT p50 ms", function (sc) { return ms(sc.ttft_ms, "median"); }], ["TTFT p99", function (sc) { return ms(sc.ttft_ms, "p99"); }],
      ["TPOT p50 ms", function (sc) { return ms(sc.tpot_ms, "median"); }], ["TPOT p99", function (sc) { return ms(sc.tpot_ms, "p99"); }],
      ["ITL p50 ms", function (sc) { return ms(sc.itl_ms, "median"); }], ["ITL p99", function (sc) { return ms(sc.itl_ms, "p99"); }],
      ["E2EL p50 ms", function (sc) { return ms(sc.e2el_ms, "median"); }], ["E2EL p99", function (sc) { return ms(sc.e2el_ms, "p99"); }]];
    var table = el("table", { className: "grid bench", "data-testid": "bench-table" });
    table.appendChild(el("thead", null, [el("tr", null, cols.map(function (c2) { return el("th", { text: c2[0] }); }))]));
    table.appendChild(el("tbody", null, r.scenarios.map(function (sc) {
      return el("tr", { "data-testid": "bench-row", "data-scenario": sc.name, className: sc.failed ? "bench-failed" : null }, cols.map(function (c2, i) {
        return el("td", { className: i >= 2 ? "numcell" : null, text: c2[1](sc) });
      }));
    })));
    section.appendChild(el("div", { className: "table-wrap" }, [table]));
    return section;
  }

  var LABEL_KEYS = ["name", "label", "scenario", "test", "case", "dataset", "config", "concurrency", "max_concurrency", "request_rate"];
  /** Files in the bench folder that are not sparkfleet results (a raw vLLM result copied there): every field flattened. */
  function renderBenchGeneric(box, chart, results) {
    var rows = results.map(function (r) {
      var m = {}; (typeof r === "object" && r ? flatten(r, "") : [["value", String(r)]]).forEach(function (p) { m[p[0]] = p[1]; }); return { flat: m, raw: r };
    });
    var cols = [];
    rows.forEach(function (r) { Object.keys(r.flat).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
    // order: label-ish columns, then ttft/tpot/itl/throughput, then the rest
    var rank = function (k) {
      var l = k.toLowerCase();
      if (LABEL_KEYS.indexOf(l) >= 0) return 0;
      if (/ttft/.test(l)) return 1; if (/tpot/.test(l)) return 2; if (/itl/.test(l)) return 3;
      if (/throughput|tok.*\/?s|per_s|rps/.test(l)) return 4;
      return 5;
    };
    cols = cols.map(function (c, i) { return [c, i]; }).sort(function (a, b) { return rank(a[0]) - rank(b[0]) || a[1] - b[1]; }).map(function (x) { return x[0]; });
    var table = el("table", { className: "grid bench", "data-testid": "bench-table" });
    table.appendChild(el("thead", null, [el("tr", null, cols.map(function (c) { return el("th", { text: c.replace(/_/g, " ") }); }))]));
    var tb = el("tbody");
    rows.forEach(function (r) {
      tb.appendChild(el("tr", { "data-testid": "bench-row" }, cols.map(function (c) {
        return el("td", { className: /^[\d,.\-]+$/.test(r.flat[c] || "") ? "numcell" : null, text: r.flat[c] !== undefined ? r.flat[c] : "" });
      })));
    });
    table.appendChild(tb);
    box.appendChild(el("div", { className: "table-wrap" }, [table]));

    // bar chart: one throughput-like numeric field per result
    var numericFlat = function (raw) { var m = {}; flattenNum(raw, "", m); return m; };
    var nums = rows.map(function (r) { return numericFlat(r.raw); });
    var metric = null, keys = Object.keys(nums[0] || {});
    nums.forEach(function (n) { Object.keys(n).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    ["output_throughput", "throughput", "tokens_per_s", "tok", "request_throughput", "ttft"].some(function (want) {
      metric = keys.filter(function (k) { return k.toLowerCase().indexOf(want) >= 0; })[0] || null; return !!metric;
    });
    if (!metric) metric = keys.filter(function (k) { return LABEL_KEYS.indexOf(k.toLowerCase()) < 0; })[0] || null;
    if (!metric) { clear(chart); return; }
    var bars = rows.map(function (r, i) {
      var lk = LABEL_KEYS.filter(function (want) { return Object.keys(r.flat).some(function (k) { return k.toLowerCase() === want; }); })[0];
      var k0 = lk && Object.keys(r.flat).filter(function (k) { return k.toLowerCase() === lk; })[0];
      var label = k0 ? (/^\d/.test(r.flat[k0]) ? k0.replace(/_/g, " ") + " " : "") + r.flat[k0] : "#" + (i + 1);
      return { label: label, value: nums[i][metric] };
    }).filter(function (b) { return typeof b.value === "number" && isFinite(b.value); });
    barChart(chart, bars, { label: metric.replace(/_/g, " ") });
  }
  function flattenNum(o, prefix, out) {
    if (!o || typeof o !== "object") return;
    Object.keys(o).forEach(function (k) {
      var v = o[k], key = prefix ? prefix + "." + k : k;
      if (typeof v === "number") out[key] = v;
      else if (v && typeof v === "object" && !Array.isArray(v)) flattenNum(v, key, out);
    });
  }

  // ------------------------------------------------------------------ wiring
  function init() {
    keyFromFragment();
    $("job-form").addEventListener("submit", submitJob);
    $("file-input").addEventListener("change", function () { if (this.files.length) $("url-input").value = ""; });
    $("url-input").addEventListener("input", function () { if (this.value) $("file-input").value = ""; });
    var v = $("video");
    v.addEventListener("timeupdate", function () { highlight(); });
    v.addEventListener("seeked", function () { highlight(); });
    $("jobs-refresh").addEventListener("click", refreshJobs);
    $("jobs-filter").addEventListener("change", refreshJobs);
    $("bench-refresh").addEventListener("click", refreshBench);

    $("key-button").addEventListener("click", function () { $("key-panel").hidden = !$("key-panel").hidden; $("key-reason").textContent = getKey() ? "An API key is saved." : "No API key saved."; });
    $("key-close").addEventListener("click", function () { $("key-panel").hidden = true; });
    $("key-clear").addEventListener("click", function () { setKey(""); $("key-input").value = ""; $("key-reason").textContent = "Key forgotten."; });
    $("key-form").addEventListener("submit", function (e) {
      e.preventDefault();
      setKey($("key-input").value.trim());
      $("key-input").value = "";
      $("key-panel").hidden = true;
      // re-run whatever the current view shows, now with the key
      if (cur.job) { var id = cur.job.id; if (!TERMINAL[cur.job.status]) follow(id); else if (cur.videoFor) { cur.videoFor = null; renderJob(cur.job); } }
      showTab(activeTab);
      probeAuth();
    });

    window.addEventListener("hashchange", function () { if (/^#key=/.test(location.hash)) { keyFromFragment(); showTab(activeTab); probeAuth(); } else route(); });
    route();
    refreshHealth();
    setInterval(refreshHealth, 5000);
    probeAuth();
  }

  /** Ask for the key up front (instead of after an upload) when the service wants one. */
  function probeAuth() { api("v1/jobs?limit=1").then(function () {}, function () {}); }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
