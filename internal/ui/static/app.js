// tipgate's analyst console: the SIEM Threat Lookup panel, over tipgate's
// public API only. Plain JavaScript, no libraries, no build step.
//
// Every piece of data from the API is put into the page with textContent or
// as an attribute value, never as markup: TIP's answers are untrusted text.
"use strict";

(function () {
  var KEY_STORAGE = "tipgate.key";

  // Readable names for TIP's section names; TIP's own name is shown beside.
  var SECTION_NAMES = {
    RelatedObjects: "Related objects",
    Industries: "Targeted industries",
    FileGeneralInfo: "File: general information",
    DetectionsInfo: "Detections",
    FileDownloadedFromUrls: "URLs the file was downloaded from",
    FileAccessedUrls: "URLs the file accessed",
    FileNames: "File names",
    FilePaths: "File paths",
    FileCertificates: "Certificates",
    FileParentCertificates: "Parent certificates",
    FileStartedObjects: "Objects the file started",
    FileStartedBy: "Objects that started the file",
    FileDownloadedObjects: "Objects the file downloaded",
    FileDownloadedBy: "Objects that downloaded the file",
    IpGeneralInfo: "IP address: general information",
    IpWhoIs: "IP address WHOIS",
    IpDnsResolutions: "Domains resolved to this address",
    FilesDownloadedFromIp: "Files downloaded from this address",
    HostedUrls: "Hosted URLs",
    DomainGeneralInfo: "Domain: general information",
    DomainWhoIsInfo: "Domain WHOIS",
    DomainDnsResolutions: "DNS resolutions",
    FilesDownloaded: "Files downloaded from it",
    FilesAccessed: "Files that accessed it",
    UrlReferrals: "URLs referring to it",
    UrlReferredTo: "URLs it refers to",
    Subdomains: "Subdomains",
    FeedMasks: "Data feed masks",
    UrlGeneralInfo: "URL: general information",
    UrlDomainWhoIs: "WHOIS of the URL's domain"
  };

  var TYPE_NAMES = { hash: "File hash", ip: "IPv4 address", domain: "Domain", url: "URL" };

  // TIP's zones (tip-api.md §3.1) in words.
  var ZONES = {
    Red: "Dangerous: high danger (malware)",
    Orange: "Not trusted: medium danger",
    Yellow: "Adware and other: medium to low danger",
    Grey: "Not categorized: no data or not enough data",
    Green: "Good: no threats detected"
  };

  var CACHE_WORDS = {
    hit: "From the cache: TIP was not asked",
    miss: "Fetched from TIP now",
    partial: "Partly from the cache, partly fetched from TIP now",
    refreshed: "Fetched again from TIP now (Update)",
    stale: "cached data past its freshness, served as the note above says",
    local: "Answered by tipgate: a private or internal indicator is never sent to TIP"
  };

  // Why an answer is stale: its stale_reason, the problem it stands in for.
  var STALE_REASONS = {
    "cache-only": "The console opens what the cache holds without asking TIP, and this data is past its freshness. Update to fetch it again.",
    "tip-unavailable": "TIP could not be reached or answered with an error, or tipgate stopped asking it for a while after repeated failures.",
    "tip-rate-limited": "TIP is limiting tipgate's request rate.",
    "tip-unauthorized": "TIP rejected tipgate's credentials, or its Terms and Conditions have not been accepted.",
    "tip-forbidden": "TIP refused access: no API access, or the daily quota is spent.",
    "tip-budget-spent": "tipgate's daily TIP budget (or this key's) is spent, so TIP was not asked.",
    "tip-timeout": "TIP did not answer in time."
  };

  var $ = function (id) { return document.getElementById(id); };

  var state = {
    key: "",
    me: null, // GET /v1/me
    sections: null, // GET /v1/sections
    indicator: "", // normalised
    type: "",
    typed: "", // as the analyst typed it
    answer: null, // the last lookup answer's body
    answerAge: null,
    request: null, // {method, path, body} that produced the answer
    formMode: "request",
    busy: false,
    seq: 0, // the latest question; answers to earlier ones are dropped
    moveFocus: true
  };

  // ---------- small DOM helpers ----------

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") e.textContent = attrs[k];
        else if (k === "className") e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      if (c == null) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, on) { node.hidden = !on; }

  function setStatus(text) { $("status").textContent = text || ""; }

  // ---------- time ----------

  function localTime(d) {
    try {
      return d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
    } catch (e) {
      return d.toString();
    }
  }

  function utcTime(d) {
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function bothTimes(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return localTime(d) + " (" + utcTime(d) + ")";
  }

  function duration(secs) {
    secs = Math.max(0, Math.round(secs));
    if (secs < 60) return secs + " s";
    var m = Math.floor(secs / 60);
    if (m < 60) return m + " min " + (secs % 60) + " s";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " days " + (h % 24) + " h";
  }

  // ---------- the API ----------

  // api calls tipgate and returns {ok, status, body, headers}; a network
  // failure is a problem-shaped body so it is shown the same way.
  function api(method, path, body) {
    var headers = { Accept: "application/json, application/problem+json" };
    if (state.key) headers.Authorization = "Bearer " + state.key;
    var init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        if (!res.ok && (!parsed || typeof parsed !== "object")) {
          parsed = { title: "HTTP " + res.status, detail: "tipgate answered " + res.status + " " + res.statusText + " without an explanation." };
        }
        return { ok: res.ok, status: res.status, body: parsed, headers: res.headers };
      });
    }, function (err) {
      return {
        ok: false, status: 0, headers: new Headers(),
        body: { type: "network", title: "tipgate could not be reached", detail: "The browser could not reach tipgate (" + err.message + "); check the connection and try again." }
      };
    });
  }

  // ---------- problems ----------

  // sentence shows an API detail as it came (it is already a sentence),
  // ending it with a full stop if it lacks one.
  function sentence(s) {
    s = (s || "").trim();
    if (!s) return "";
    return /[.!?]$/.test(s) ? s : s + ".";
  }

  // retryText says when to ask again after a 503, from Retry-After.
  function retryText(headers) {
    var ra = headers && headers.get("Retry-After");
    if (!ra) return "";
    var secs = /^\d+$/.test(ra) ? parseInt(ra, 10) : (Date.parse(ra) - Date.now()) / 1000;
    if (!isFinite(secs)) return "";
    var at = new Date(Date.now() + secs * 1000);
    return "Try again after " + localTime(at) + " (" + utcTime(at) + "), in " + duration(secs) + ".";
  }

  function showProblem(res) {
    var p = res.body || {};
    var box = $("problem");
    clear(box);
    box.appendChild(el("p", { className: "problem-title", text: p.title || ("Error " + res.status) }));
    box.appendChild(el("p", { text: sentence(p.detail) || "tipgate gave no detail." }));
    if (Array.isArray(p.invalid_params) && p.invalid_params.length > 1) {
      var ul = el("ul");
      p.invalid_params.forEach(function (ip) { ul.appendChild(el("li", { text: ip.name + ": " + ip.reason })); });
      box.appendChild(ul);
    }
    if (res.status === 503 || res.status === 429) {
      var when = retryText(res.headers);
      if (when) box.appendChild(el("p", { className: "retry", text: when }));
    }
    if (res.status === 401 && state.key) {
      // The key stopped working (revoked, or mistyped): ask for it again.
      forgetKey();
      box.appendChild(el("p", { text: "Enter a valid API key above." }));
    }
    show(box, true);
    setStatus("");
  }

  function hideProblem() { show($("problem"), false); clear($("problem")); }

  // ---------- the key ----------

  function forgetKey() {
    state.key = "";
    state.me = null;
    try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* storage off */ }
    show($("who"), false);
    show($("key-section"), true);
  }

  function showWho() {
    var me = state.me;
    var who = $("who");
    if (!me) { show(who, false); return; }
    var roles = (me.roles || []).join(", ") || "none";
    $("who-text").textContent = me.name === "anonymous" && !state.key
      ? "No key needed: authentication is off (roles " + roles + ")"
      : "Key " + me.name + " (roles " + roles + ")";
    show($("forget-key"), !!state.key);
    show(who, true);
  }

  function hasRole(role) {
    return !!(state.me && (state.me.roles || []).indexOf(role) >= 0);
  }

  // loadMe asks who the key is; with no key it learns whether one is needed.
  function loadMe() {
    return api("GET", "/v1/me").then(function (res) {
      if (!res.ok) return res;
      state.me = res.body;
      show($("key-section"), false);
      showWho();
      return api("GET", "/v1/sections").then(function (sres) {
        if (sres.ok) state.sections = sres.body;
        return sres.ok ? res : sres;
      });
    });
  }

  function onKeySubmit(ev) {
    ev.preventDefault();
    var key = $("key").value.trim();
    if (!key) {
      showProblem({ status: 0, body: { title: "No key", detail: "Enter the API key the operator gave you" } });
      $("key").focus();
      return;
    }
    state.key = key;
    setStatus("Checking the key…");
    loadMe().then(function (res) {
      if (!res.ok) {
        state.key = "";
        showProblem(res);
        $("key").focus();
        return;
      }
      try { sessionStorage.setItem(KEY_STORAGE, key); } catch (e) { /* kept in memory only */ }
      $("key").value = "";
      hideProblem();
      setStatus("Key accepted.");
      if ($("indicator").value.trim()) openIndicator($("indicator").value, false);
      else $("indicator").focus();
    });
  }

  // ---------- sections ----------

  function sectionsOf(type) {
    return (state.sections && state.sections[type]) || [];
  }

  function sectionKind(type, name) {
    var list = sectionsOf(type);
    for (var i = 0; i < list.length; i++) if (list[i].name === name) return list[i].kind;
    return "";
  }

  function readable(name) {
    return SECTION_NAMES[name] || name.replace(/([a-z])([A-Z])/g, "$1 $2");
  }

  // ---------- the lookup flow ----------

  function showDetected(indicator, type) {
    var d = $("detected");
    clear(d);
    if (!indicator) { show(d, false); return; }
    d.appendChild(el("span", { className: "tag", text: TYPE_NAMES[type] || type }));
    d.appendChild(document.createTextNode(" read as "));
    d.appendChild(el("code", { className: "normalised", text: indicator }));
    show(d, true);
  }

  function resetPanels() {
    hideProblem();
    show($("request-section"), false);
    show($("answer"), false);
  }

  function setBusy(on) {
    state.busy = on;
    // Request and Update stay off while a question is out, so a double
    // press cannot spend TIP quota twice; a new lookup may always start.
    $("request-submit").disabled = on;
    document.body.setAttribute("aria-busy", on ? "true" : "false");
  }

  function indicatorURL(value) {
    return "/ui/?indicator=" + encodeURIComponent(value);
  }

  // openIndicator is the click on an indicator in the SIEM: whatever is
  // cached opens at once; otherwise the Threat Lookup form.
  // userAsked says the analyst asked just now (Enter, a click), so focus
  // moves to what answers; a page opened from a link keeps focus where the
  // browser put it.
  function openIndicator(text, push, userAsked) {
    state.moveFocus = userAsked !== false;
    text = (text || "").trim();
    if (!text) {
      resetPanels();
      showProblem({ status: 0, body: { title: "No indicator", detail: "Type or paste a hash, an IPv4 address, a domain or a URL" } });
      $("indicator").focus();
      return Promise.resolve();
    }
    $("indicator").value = text;
    state.typed = text;
    if (push) history.pushState({ indicator: text }, "", indicatorURL(text));
    if (!state.me) {
      // The key comes first; the lookup follows once it is accepted.
      show($("key-section"), true);
      setStatus("Enter your API key to look up " + text + ".");
      $("key").focus();
      return Promise.resolve();
    }
    resetPanels();
    setBusy(true);
    setStatus("Looking in tipgate's cache…");
    var seq = ++state.seq;
    var current = function () { return seq === state.seq; };
    var limit = (state.me && state.me.default_limit) || 10;
    return cacheOnly(text, null, limit).then(function (res) {
      if (!current()) return null;
      if (res.ok) return presentAnswer(res, lookupRequest(text, null, limit, true));
      var p = res.body || {};
      if (res.status === 404 && p.type === "not-cached") {
        state.indicator = p.indicator || text;
        state.type = p.indicator_type || "";
        showDetected(state.indicator, state.type);
        var known = sectionsOf(state.type).map(function (s) { return s.name; });
        var cached = (p.cached_sections || []).filter(function (n) { return known.indexOf(n) >= 0; });
        if (cached.length === 0) {
          openForm("request", "Nothing is cached for this indicator yet. Choose what to request from TIP.", []);
          return null;
        }
        // Some sections are cached: open those at once, at the largest
        // record limit up to the default that the cache can serve.
        return largestCached(text, cached, limit).then(function (found) {
          if (!current()) return null;
          if (found) {
            var note = "Only these data types are cached; Update requests others.";
            if (found.limit < limit) note = "Cached with at most " + found.limit + " records per group; Update requests more.";
            return presentAnswer(found.res, lookupRequest(text, cached, found.limit, true), note);
          }
          openForm("request", "tipgate holds some data for this indicator (" + cached.map(readable).join(", ") +
            ") but cannot show it. Choose what to request from TIP.", cached);
          return null;
        });
      }
      showDetected("", "");
      showProblem(res);
      return null;
    }).then(function () { if (current()) setBusy(false); });
  }

  function lookupRequest(indicator, sections, limit, cacheOnly) {
    var q = "indicator=" + encodeURIComponent(indicator);
    if (sections && sections.length) q += "&sections=" + sections.map(encodeURIComponent).join(",");
    q += "&limit=" + limit;
    if (cacheOnly) q += "&cache_only=true";
    return { method: "GET", path: "/v1/lookup?" + q };
  }

  // largestCached finds the largest record limit, at most limit, at which
  // the cache answers for sections: a list cached with fewer records than
  // the default serves only smaller limits. Cache-only questions never
  // reach TIP, so the few of a binary search cost no quota.
  function largestCached(indicator, sections, limit) {
    var best = null;
    function attempt(n) {
      return cacheOnly(indicator, sections, n).then(function (res) {
        if (res.ok) best = { res: res, limit: n };
        return res.ok;
      });
    }
    return attempt(limit).then(function (ok) {
      if (ok || limit <= 1) return best;
      return attempt(1).then(function (ok1) {
        if (!ok1) return null;
        var lo = 1, hi = limit - 1;
        function step() {
          if (lo >= hi) return best;
          var mid = Math.ceil((lo + hi) / 2);
          return attempt(mid).then(function (okMid) {
            if (okMid) lo = mid; else hi = mid - 1;
            return step();
          });
        }
        return step();
      });
    });
  }

  function cacheOnly(indicator, sections, limit) {
    var r = lookupRequest(indicator, sections, limit, true);
    return api(r.method, r.path);
  }

  // ---------- the Threat Lookup form ----------

  function openForm(mode, intro, cached, checked) {
    state.formMode = mode;
    var type = state.type;
    $("request-heading").textContent = mode === "update" ? "Update from TIP" : "Threat Lookup";
    $("request-intro").textContent = intro || "";
    var boxes = $("section-boxes");
    clear(boxes);
    sectionsOf(type).forEach(function (s, i) {
      var id = "sec-" + i;
      var input = el("input", { type: "checkbox", id: id, name: "sections", value: s.name });
      if (checked && checked.indexOf(s.name) >= 0) input.checked = true;
      var label = el("label", { "for": id }, [
        el("span", { className: "sec-readable", text: readable(s.name) }),
        el("span", { className: "sec-tip", text: s.name + (s.kind === "list" ? " · list" : "") }),
        cached && cached.indexOf(s.name) >= 0 ? el("span", { className: "sec-cached", text: "cached" }) : null
      ]);
      boxes.appendChild(el("div", { className: "box" }, [input, label]));
    });
    var limit = (state.answer && mode === "update" && state.answer.limit) || (state.me && state.me.default_limit) || 10;
    $("limit").value = String(limit);
    $("request-submit").textContent = mode === "update" ? "Update" : "Request";
    show($("request-cancel"), mode === "update");
    $("request-section").setAttribute("data-mode", mode);
    show($("request-section"), true);
    setStatus(mode === "update" ? "Choose what to fetch again from TIP." : "Not cached: choose what to request from TIP.");
    if (state.moveFocus) $("request-heading").focus();
  }

  function onRequestSubmit(ev) {
    ev.preventDefault();
    if (state.busy) return;
    var limit = parseInt($("limit").value, 10);
    if (!(limit >= 1 && limit <= 1000) || String(limit) !== $("limit").value.trim()) {
      showProblem({ status: 0, body: { title: "Invalid record limit", detail: "The maximum number of records must be a whole number from 1 to 1000" } });
      $("limit").focus();
      return;
    }
    var sections = [];
    Array.prototype.forEach.call(document.querySelectorAll("#section-boxes input:checked"), function (b) { sections.push(b.value); });
    var body = { indicator: state.indicator, limit: limit };
    if (state.type) body.type = state.type;
    if (sections.length) body.sections = sections; // none checked = all
    var path = state.formMode === "update" ? "/v1/refresh" : "/v1/lookup";
    hideProblem();
    setBusy(true);
    setStatus(state.formMode === "update" ? "Fetching again from TIP…" : "Requesting from TIP…");
    var req = { method: "POST", path: path, body: body };
    var seq = ++state.seq;
    state.moveFocus = true;
    api("POST", path, body).then(function (res) {
      if (seq !== state.seq) return;
      setBusy(false);
      if (!res.ok) { showProblem(res); return; }
      show($("request-section"), false);
      presentAnswer(res, req);
    });
  }

  // ---------- the answer ----------

  var HEX = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;
  var IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
  var DOMAIN = /^(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+(?:[a-zA-Z]{2,63}|xn--[a-zA-Z0-9-]{1,59})\.?$/;
  var DOMAIN_KEYS = /^(Domain|DomainName|Host|Subdomain|NameServers|ParentDomain)$/;
  var URL_KEYS = /(^Url$|Url$)/;
  var EXTERNAL_KEYS = /^DescriptionUrl$/;

  // indicatorIn says whether a value inside an answer is an indicator
  // worth a link that looks it up in turn.
  function indicatorIn(key, value) {
    if (typeof value !== "string" || value.length > 2000) return false;
    if (HEX.test(value) || IPV4.test(value)) return true;
    if (EXTERNAL_KEYS.test(key)) return false;
    if (DOMAIN_KEYS.test(key)) return DOMAIN.test(value);
    if (URL_KEYS.test(key)) return /^(https?:\/\/)?[^\s\/]+\.[^\s\/]+/.test(value);
    return false;
  }

  function indicatorLink(value) {
    var a = el("a", { href: indicatorURL(value), className: value.length > 40 ? "ioc long" : "ioc", text: value });
    a.addEventListener("click", function (ev) {
      if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      openIndicator(value, true);
    });
    return a;
  }

  function zoneBadge(zone, small) {
    var z = ZONES[zone] ? zone : "Grey";
    var cls = "zone zone-" + z.toLowerCase() + (small ? " zone-small" : "");
    if (small) return el("span", { className: cls, text: zone });
    return el("p", { className: cls }, [
      el("span", { className: "zone-word", text: zone || "Grey" }),
      el("span", { className: "zone-text", text: ZONES[z] })
    ]);
  }

  // value renders one JSON value from an answer.
  function value(key, v) {
    if (v === null || v === undefined || v === "") return el("span", { className: "none", text: "none" });
    if (typeof v === "boolean") return document.createTextNode(v ? "yes" : "no");
    if (typeof v === "number") return document.createTextNode(String(v));
    if (typeof v === "string") {
      if (key === "Zone" || /Zone$/.test(key)) {
        var zk = v.charAt(0).toUpperCase() + v.slice(1).toLowerCase();
        if (zk === "Gray") zk = "Grey";
        if (ZONES[zk]) return zoneBadge(zk, true);
      }
      // The answer's own indicator is not a link: it would open this page.
      if (indicatorIn(key, v) && v.toLowerCase() !== (state.indicator || "").toLowerCase()) return indicatorLink(v);
      if (EXTERNAL_KEYS.test(key) && /^https:\/\//.test(v)) {
        return el("a", { href: v, rel: "noopener noreferrer", target: "_blank", text: v });
      }
      if (v.length > 40) return el("span", { className: "long", text: v });
      // A short word (a date, a count, a name) is never broken in a table.
      if (!/\s/.test(v)) return el("span", { className: "word", text: v });
      return document.createTextNode(v);
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return el("span", { className: "none", text: "none" });
      if (v.every(function (x) { return x === null || typeof x !== "object"; })) {
        var span = el("span", { className: "inline-list" });
        v.forEach(function (x, i) {
          if (i > 0) span.appendChild(document.createTextNode(", "));
          span.appendChild(value(key, x));
        });
        return span;
      }
      return table(v, key);
    }
    return keyValues(v);
  }

  function keyValues(obj) {
    var keys = Object.keys(obj || {});
    if (keys.length === 0) return el("p", { className: "none", text: "No data." });
    var dl = el("dl", { className: "kv" });
    keys.forEach(function (k) {
      dl.appendChild(el("dt", { text: k.replace(/([a-z])([A-Z])/g, "$1 $2") }));
      dl.appendChild(el("dd", null, [value(k, obj[k])]));
    });
    return dl;
  }

  var tableCount = 0;

  function table(rows, label) {
    var cols = [];
    rows.forEach(function (r) {
      if (r && typeof r === "object") Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); });
    });
    var thead = el("thead", null, [el("tr", null, cols.map(function (c) {
      return el("th", { scope: "col", text: c.replace(/([a-z])([A-Z])/g, "$1 $2") });
    }))]);
    var tbody = el("tbody");
    rows.forEach(function (r) {
      tbody.appendChild(el("tr", null, cols.map(function (c) {
        return el("td", null, [value(c, r && typeof r === "object" ? r[c] : null)]);
      })));
    });
    // A wide table scrolls inside its own box; the box is focusable so a
    // keyboard can scroll it too.
    tableCount++;
    return el("div", { className: "table-wrap", tabindex: "0", role: "region", "aria-label": label + " (table " + tableCount + ")" }, [
      el("table", null, [thead, tbody])
    ]);
  }

  function renderSection(ans, name, raw) {
    var kind = sectionKind(ans.type, name) || (Array.isArray(raw) ? "list" : "object");
    var head = el("h3", null, [
      el("span", { text: readable(name) }),
      el("span", { className: "sec-tip", text: name })
    ]);
    var meta = [];
    var at = ans.sections_received_at && ans.sections_received_at[name];
    if (at) meta.push("Received from TIP at " + bothTimes(at));
    var body;
    if (Array.isArray(raw)) {
      var n = raw.length;
      meta.unshift(n > ans.limit
        ? n + " records (TIP always sends every one of this kind)"
        : n + " of at most " + ans.limit + " records");
      body = n === 0 ? el("p", { className: "none", text: "No records." }) : table(raw, readable(name));
    } else if (raw && typeof raw === "object") {
      body = keyValues(raw);
    } else {
      body = el("p", null, [value(name, raw)]);
    }
    return el("section", { className: "sec sec-" + kind, "aria-label": readable(name) }, [
      head,
      el("p", { className: "sec-meta", text: meta.join(" · ") }),
      body
    ]);
  }

  function fact(term, node) {
    return [el("dt", { text: term }), el("dd", null, [typeof node === "string" ? document.createTextNode(node) : node])];
  }

  function presentAnswer(res, req, note) {
    var ans = res.body;
    state.answer = ans;
    state.request = req;
    state.indicator = ans.indicator;
    state.type = ans.type;
    var age = parseInt(res.headers.get("Age") || "", 10);
    state.answerAge = isNaN(age) ? null : age;
    showDetected(ans.indicator, ans.type);
    hideProblem();
    show($("request-section"), false);

    $("answer-heading").textContent = ans.indicator;
    var body = $("answer-body");
    clear(body);
    tableCount = 0;
    body.appendChild(zoneBadge(ans.zone));

    if (ans.cache === "stale") {
      body.appendChild(el("div", { className: "notice stale", role: "note" }, [
        el("p", { className: "notice-title", text: "Stale answer" }),
        el("p", { text: STALE_REASONS[ans.stale_reason] || ("tipgate served cached data past its freshness instead of the problem " + ans.stale_reason + ".") }),
        el("p", { className: "hint", text: "Reason: " + (ans.stale_reason || "not given") })
      ]));
    }
    if (!ans.found) {
      body.appendChild(el("p", { className: "notice", text: ans.cache === "local"
        ? "A private, reserved or internal indicator: tipgate answers it itself and never sends it to TIP."
        : "TIP knows nothing of this indicator." }));
    }
    if (note) body.appendChild(el("p", { className: "notice", text: note }));

    var facts = el("dl", { className: "facts" });
    var cacheWord = el("span", null, [el("code", { text: ans.cache }), CACHE_WORDS[ans.cache] ? ": " + CACHE_WORDS[ans.cache] : ""]);
    [
      fact("Type", TYPE_NAMES[ans.type] || ans.type),
      fact("Cache", cacheWord),
      fact("Age", state.answerAge === null ? "unknown" : duration(state.answerAge) + " since TIP sent it"),
      fact("Records per list", String(ans.limit))
    ].forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });
    body.appendChild(facts);

    var names = Object.keys(ans.sections || {});
    var order = sectionsOf(ans.type).map(function (s) { return s.name; });
    names.sort(function (a, b) {
      var ia = order.indexOf(a), ib = order.indexOf(b);
      return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || (a < b ? -1 : 1);
    });
    names.forEach(function (name) { body.appendChild(renderSection(ans, name, ans.sections[name])); });

    $("received").textContent = ans.cache === "local"
      ? "Answered by tipgate at " + bothTimes(ans.received_at) + "; TIP was not asked."
      : "Received from TIP at " + bothTimes(ans.received_at);
    setupUpdate(ans);
    $("curl-text").textContent = curlFor(req);
    $("copy-status").textContent = "";
    // For scripts and tests: which answer is on show.
    $("answer").setAttribute("data-indicator", ans.indicator);
    $("answer").setAttribute("data-cache", ans.cache);
    show($("answer"), true);
    setStatus("Showing " + ans.indicator + ": zone " + ans.zone + ", cache " + ans.cache + ".");
    if (state.moveFocus) $("answer-heading").focus();
    return null;
  }

  function setupUpdate(ans) {
    var btn = $("update");
    var why = $("update-why");
    var reason = "";
    if (!hasRole("refresh")) {
      reason = "Update is not available: the key " + (state.me ? "\u201c" + state.me.name + "\u201d" : "") +
        " lacks the refresh role, which asks TIP again and spends quota. Ask the operator for a key with it.";
    } else if (ans.cache === "local") {
      reason = "Update is not available: tipgate never sends a private or internal indicator to TIP.";
    }
    btn.disabled = !!reason;
    why.textContent = reason;
    show(why, !!reason);
  }

  function onUpdate() {
    if (!state.answer || $("update").disabled) return;
    var ans = state.answer;
    var all = sectionsOf(ans.type).map(function (s) { return s.name; });
    var shown = Object.keys(ans.sections || {});
    // The sections shown are checked when they are a subset; none checked
    // (all) otherwise.
    var checked = shown.length < all.length ? shown : [];
    state.moveFocus = true;
    openForm("update", "Fetch " + ans.indicator + " from TIP again, whatever the cache holds. This spends TIP quota.", shown, checked);
  }

  // ---------- copy as curl, download JSON ----------

  function shellQuote(s) {
    return "'" + String(s).replace(/'/g, "'\\''") + "'";
  }

  function curlFor(req) {
    if (!req) return "";
    var parts = ["curl -s"];
    if (req.method !== "GET") parts.push("-X " + req.method);
    // The key itself is never written out: the command reads it from the
    // analyst's environment.
    if (state.key || !state.me || state.me.name !== "anonymous") parts.push('-H "Authorization: Bearer $TIPGATE_KEY"');
    if (req.body !== undefined) {
      parts.push("-H 'Content-Type: application/json'");
      parts.push("-d " + shellQuote(JSON.stringify(req.body)));
    }
    parts.push(shellQuote(location.origin + req.path));
    return parts.join(" ");
  }

  function onCopyCurl() {
    var text = $("curl-text").textContent;
    var done = function () {
      $("copy-status").textContent = "Copied. Set TIPGATE_KEY to your key in the shell before running it.";
    };
    var fallback = function () {
      var d = document.querySelector("details.curl");
      d.open = true;
      var range = document.createRange();
      range.selectNodeContents($("curl-text"));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $("copy-status").textContent = "The browser does not allow copying here; the command is shown and selected below: press Ctrl+C.";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  function onDownload() {
    if (!state.answer) return;
    var blob = new Blob([JSON.stringify(state.answer, null, 2) + "\n"], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var a = el("a", { href: url, download: "tipgate-" + state.answer.type + "-" + state.answer.indicator.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 100) + ".json" });
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    $("copy-status").textContent = "Downloaded the answer as JSON.";
  }

  // ---------- start ----------

  function indicatorFromURL() {
    var params = new URLSearchParams(location.search);
    return params.get("indicator") || "";
  }

  function start() {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("lookup-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("indicator").value.trim();
      openIndicator(text, text !== indicatorFromURL());
    });
    $("request-form").addEventListener("submit", onRequestSubmit);
    $("request-cancel").addEventListener("click", function () {
      show($("request-section"), false);
      setStatus("");
      $("update").focus();
    });
    $("update").addEventListener("click", onUpdate);
    $("copy-curl").addEventListener("click", onCopyCurl);
    $("download-json").addEventListener("click", onDownload);
    $("forget-key").addEventListener("click", function () {
      forgetKey();
      resetPanels();
      setStatus("The key is forgotten.");
      $("key").focus();
    });
    window.addEventListener("popstate", function () {
      var ind = indicatorFromURL();
      if (ind) openIndicator(ind, false);
    });

    var wanted = indicatorFromURL();
    if (wanted) $("indicator").value = wanted;
    try { state.key = sessionStorage.getItem(KEY_STORAGE) || ""; } catch (e) { state.key = ""; }
    setStatus("Connecting to tipgate…");
    loadMe().then(function (res) {
      if (!res.ok) {
        if (res.status === 401) {
          // A key is needed (or the stored one no longer works).
          if (state.key) showProblem(res);
          else setStatus("");
          state.key = "";
          try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* storage off */ }
          show($("key-section"), true);
          $("key").focus();
          return;
        }
        showProblem(res);
        return;
      }
      setStatus("");
      if (wanted) openIndicator(wanted, false, false);
      else $("indicator").focus();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
