// The dashboard's own script: theme toggle, copy buttons, uPlot charts, and the log that follows.
// No inline script runs on these pages (the Content-Security-Policy forbids it): everything a
// page does is bound here to data- attributes the templates set.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // ---- theme toggle and copy buttons -------------------------------------------------------
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) { window.tuningTheme.toggle(); return; }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent).then(function () {
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = "Copy"; }, 1500);
        }, function () { /* clipboard refused (no focus): the text is still selectable */ });
      }
    }
  });

  // ---- charts ------------------------------------------------------------------------------
  var PALETTE = ["#2457c5", "#d1495b", "#1a7f37", "#8250df", "#c76b00", "#0f8a8a", "#6e7681", "#b0306b"];

  // TensorBoard's smoothing: an exponential moving average, debiased at the start
  function smooth(values, weight) {
    if (!weight) return values;
    var out = [], last = 0, count = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || v === undefined || !isFinite(v)) { out.push(null); continue; }
      last = last * weight + (1 - weight) * v;
      count++;
      out.push(last / (1 - Math.pow(weight, count)));
    }
    return out;
  }

  function xValue(point, axis) {
    if (axis === "epoch") return point.epoch;
    if (axis === "time") return point.time;
    return point.step;
  }

  // series: [{label, points: [{step, epoch, time, loss, eval_loss}]}]; keys: ["loss", "eval_loss"]
  function alignedData(series, keys, axis, weight, logScale) {
    var xs = {};
    series.forEach(function (s) {
      s.points.forEach(function (p) { var x = xValue(p, axis); if (x !== null && x !== undefined) xs[x] = true; });
    });
    var xList = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xList.forEach(function (x, i) { index[x] = i; });
    var data = [xList];
    var labels = [];
    series.forEach(function (s) {
      keys.forEach(function (key) {
        var column = new Array(xList.length).fill(null);
        s.points.forEach(function (p) {
          var x = xValue(p, axis), v = p[key];
          if (x === null || x === undefined || v === null || v === undefined) return;
          if (logScale && v <= 0) return;
          column[index[x]] = v;
        });
        var present = column.some(function (v) { return v !== null; });
        if (!present) return;
        data.push(smooth(column, weight));
        labels.push(series.length > 1 ? s.label + " · " + key : key);
      });
    });
    return { data: data, labels: labels };
  }

  function drawChart(holder, series, options) {
    var axis = options.axis || "step";
    var built = alignedData(series, options.keys || ["loss", "eval_loss"], axis, options.smooth || 0, options.log);
    var width = Math.max(280, holder.clientWidth || 600);
    var text = css("--muted") || "#666", grid = css("--line") || "#ddd";
    var opts = {
      width: width,
      height: options.height || 260,
      scales: { x: { time: axis === "time" }, y: { distr: options.log ? 3 : 1 } },
      axes: [
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, label: axis === "time" ? "" : axis },
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } },
      ],
      series: [{ label: axis }].concat(built.labels.map(function (label, i) {
        return { label: label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: false } };
      })),
      legend: { show: true },
    };
    if (holder._plot) { holder._plot.destroy(); }
    holder.textContent = "";
    if (built.data.length < 2) {
      holder.textContent = "No loss reported yet.";
      holder.dataset.points = "0";
      return;
    }
    holder._plot = new uPlot(opts, built.data, holder);
    var count = 0;
    series.forEach(function (s) { count += s.points.length; });
    holder.dataset.points = String(count);
  }

  function chartControls(holder) {
    var box = holder.closest("[data-chart-box]") || document;
    var axis = box.querySelector("[data-chart-x]");
    var smoothing = box.querySelector("[data-chart-smooth]");
    var log = box.querySelector("[data-chart-log]");
    var keys = (holder.dataset.keys || "loss,eval_loss").split(",");
    return {
      read: function () {
        return {
          axis: axis ? axis.value : "step",
          smooth: smoothing ? Number(smoothing.value) : 0,
          log: log ? log.checked : false,
          keys: keys,
        };
      },
      bind: function (redraw) {
        [axis, smoothing, log].forEach(function (control) {
          if (control) control.addEventListener("input", redraw);
        });
      },
    };
  }

  // A live chart fetches only the points from the last step it has on (that step may have
  // gained an eval loss since), so following a long run never refetches its whole history.
  function liveChart(holder) {
    var urls = holder.dataset.metricsUrls.split(" ").filter(Boolean);
    var labels = (holder.dataset.labels || "").split("|");
    var series = urls.map(function (url, i) { return { url: url, label: labels[i] || url, points: [], fromStep: 0, finished: false }; });
    var controls = chartControls(holder);
    function redraw() { drawChart(holder, series, controls.read()); }
    controls.bind(redraw);
    document.addEventListener("tuning:theme", redraw);
    window.addEventListener("resize", function () { if (holder._plot) holder._plot.setSize({ width: Math.max(280, holder.clientWidth), height: 260 }); });

    function merge(s, points) {
      var byStep = {};
      s.points.forEach(function (p, i) { if (p.step !== null) byStep[p.step] = i; });
      points.forEach(function (p) {
        if (p.step !== null && byStep[p.step] !== undefined) { s.points[byStep[p.step]] = p; }
        else { s.points.push(p); }
        if (p.step !== null && p.step > s.fromStep) s.fromStep = p.step;
      });
    }

    function poll() {
      var pending = series.filter(function (s) { return !s.finished; });
      if (!pending.length) return;
      Promise.all(pending.map(function (s) {
        var url = s.url + (s.url.indexOf("?") < 0 ? "?" : "&") + "from_step=" + s.fromStep;
        return fetch(url, { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) throw new Error("metrics: " + r.status);
          return r.json();
        }).then(function (body) { merge(s, body.points); s.finished = body.finished; });
      })).then(function () {
        redraw();
        if (series.some(function (s) { return !s.finished; })) setTimeout(poll, 2000);
      }, function () { setTimeout(poll, 5000); });
    }
    poll();
  }

  // ---- the log that follows ----------------------------------------------------------------
  function followLog(box) {
    var view = box.querySelector("[data-log-view]");
    var search = box.querySelector("[data-log-search]");
    var onlyMatching = box.querySelector("[data-log-only]");
    var followButton = box.querySelector("[data-log-follow]");
    var state = box.querySelector("[data-log-state]");
    var maxLines = Number(view.dataset.maxLines || 2000);
    var lastSeq = Number(view.dataset.after || 0);
    var following = true;

    function matches(text, term) { return term && text.toLowerCase().indexOf(term.toLowerCase()) >= 0; }

    function paint(row) {
      var term = search ? search.value : "";
      var textNode = row.querySelector(".text");
      var text = textNode.dataset.raw !== undefined ? textNode.dataset.raw : textNode.textContent;
      textNode.dataset.raw = text;
      textNode.textContent = "";
      if (term && matches(text, term)) {
        var lower = text.toLowerCase(), needle = term.toLowerCase(), at = 0, found;
        while ((found = lower.indexOf(needle, at)) >= 0) {
          textNode.appendChild(document.createTextNode(text.slice(at, found)));
          var mark = document.createElement("mark");
          mark.textContent = text.slice(found, found + term.length);
          textNode.appendChild(mark);
          at = found + term.length;
        }
        textNode.appendChild(document.createTextNode(text.slice(at)));
      } else {
        textNode.textContent = text;
      }
      row.classList.toggle("hidden-by-search", Boolean(onlyMatching && onlyMatching.checked && term && !matches(text, term)));
    }

    function addLine(seq, text) {
      if (seq <= lastSeq) return;  // a line the page already shows (a reconnect, a reload)
      lastSeq = seq;
      var row = document.createElement("div");
      row.setAttribute("data-testid", "log-line");
      row.dataset.seq = String(seq);
      var number = document.createElement("span");
      number.className = "seq";
      number.textContent = String(seq);
      var body = document.createElement("span");
      body.className = "text";
      body.textContent = text;
      row.appendChild(number);
      row.appendChild(body);
      paint(row);
      view.appendChild(row);
      while (view.childElementCount > maxLines) view.removeChild(view.firstElementChild);
      if (following) view.scrollTop = view.scrollHeight;
    }

    function setFollowing(value) {
      following = value;
      if (followButton) {
        followButton.textContent = following ? "Pause" : "Follow";
        followButton.setAttribute("aria-pressed", following ? "true" : "false");
      }
      if (following) view.scrollTop = view.scrollHeight;
    }

    view.querySelectorAll("[data-testid=log-line]").forEach(paint);
    view.scrollTop = view.scrollHeight;
    if (search) search.addEventListener("input", function () { view.querySelectorAll("[data-testid=log-line]").forEach(paint); });
    if (onlyMatching) onlyMatching.addEventListener("change", function () { view.querySelectorAll("[data-testid=log-line]").forEach(paint); });
    if (followButton) followButton.addEventListener("click", function () { setFollowing(!following); });
    view.addEventListener("wheel", function (event) { if (event.deltaY < 0 && following) setFollowing(false); }, { passive: true });

    if (view.dataset.finished === "1" || !view.dataset.streamUrl) {
      if (state) state.textContent = "ended";
      return;
    }
    var source = new EventSource(view.dataset.streamUrl + "?after=" + lastSeq);
    if (state) state.textContent = "following";
    source.onmessage = function (event) {
      var line = JSON.parse(event.data);
      addLine(line.seq, line.line);
    };
    source.addEventListener("end", function () {
      source.close();
      if (state) state.textContent = "ended";
    });
    source.onerror = function () { if (state) state.textContent = "reconnecting…"; };
    source.onopen = function () { if (state) state.textContent = "following"; };
  }

  function start(root) {
    root.querySelectorAll("[data-metrics-urls]").forEach(function (holder) {
      if (!holder._started) { holder._started = true; liveChart(holder); }
    });
    root.querySelectorAll("[data-log-box]").forEach(function (box) {
      if (!box._started) { box._started = true; followLog(box); }
    });
  }

  window.tuningUi = { csrfToken: csrfToken, drawChart: drawChart, start: start };
  document.addEventListener("DOMContentLoaded", function () { start(document); });
  document.addEventListener("htmx:afterSettle", function (event) { start(event.target); });
})();
