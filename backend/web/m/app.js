// 亲情认证: a family member certifies an elderly parent from their own phone's browser.
// The server measures liveness and decides; this page only films the challenge and signs
// what it filmed with a key that never leaves the phone (WebCrypto Ed25519, not extractable,
// kept in IndexedDB). The text it signs is /work/shared/API.md's "Signed captures".
"use strict";

const API = "/api/v1";
const FPS = 10; // frames sampled per second (the server wants at least 5 per action)
const BASELINE_S = 1.0; // a still, neutral start
const ACTION_S = 2.5; // seconds per action, slow enough for the elderly
const FRAME_W = 480;
const FRAME_H = 360;
const ACTION_TEXT = {
  blink: "眨眨眼",
  turn_left: "慢慢向左转头",
  turn_right: "慢慢向右转头",
  open_mouth: "张张嘴",
};
const RELATION_TEXT = { spouse: "配偶", child: "子女", grandchild: "孙辈", sibling: "兄弟姐妹", other: "亲属" };
// what each machine code means to a family member (never the server's English text)
const CODE_TEXT = {
  bad_code: "验证码不对或已过期，请重新获取。",
  too_many_codes: "验证码发送太频繁，请过一小时再试。",
  sms_unavailable: "短信暂时发不出去，请过几分钟再试。",
  in_person_required: "上次是亲情认证，这次请老人到村里的自助机认证，或等工作人员上门。",
  family_phone_limit: "这个手机今年认证的人数已到上限。",
  not_your_family: "您没有登记为这位老人的亲属。",
  bad_capture_signature: "登录已失效，请重新登录。",
  unauthorized: "登录已失效，请重新登录。",
  too_many_attempts: "今天试的次数太多了，请明天再试，或联系村便民服务点。",
  invalid_input: "填写的内容不对，请检查后再试。",
};
const REASON_TEXT = {
  static_image: "没有看到老人本人做动作，请让老人本人对着镜头按提示做。",
  not_enough_frames: "拍摄时间太短，请再试一次。",
  face_mismatch: "没有认出是老人本人。",
  no_face: "镜头里没有看到脸，请正对镜头。",
};

const $ = (id) => document.getElementById(id);
const state = { token: null, keys: null, challenge: null, person: null, offset: 0, where: null };

// --- the phone's key, in IndexedDB --------------------------------------------------------

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("nongbao-family", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function keyStore(mode, fn) {
  const conn = await db();
  return new Promise((resolve, reject) => {
    const tx = conn.transaction("keys", mode);
    const req = fn(tx.objectStore("keys"));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

async function newKeys() {
  // not extractable: the private key cannot be read out of the browser, only used
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  await keyStore("readwrite", (s) => s.put(keys, "capture"));
  return keys;
}

function b64(bytes) {
  let text = "";
  new Uint8Array(bytes).forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text);
}

async function sha256hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- talking to the server ----------------------------------------------------------------

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || String(status));
    this.status = status;
    this.code = body.code || "";
  }
}

async function call(method, path, body, extra) {
  const headers = Object.assign({}, extra || {});
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(API + path, { method, headers, body: payload });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

function explain(err) {
  if (err instanceof Problem) {
    if (err.status === 401 && err.code !== "bad_code") signOutLocally();
    return CODE_TEXT[err.code] || "没有办成，请稍后再试。";
  }
  return "网络不通，请检查网络后再试。";
}

// --- screens ------------------------------------------------------------------------------

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  document.body.dataset.screen = id;
  say("");
}

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function signOutLocally() {
  state.token = null;
  localStorage.removeItem("nongbao.family.token");
  show("signin");
}

async function sendCode() {
  const phone = $("phone").value.trim();
  if (!phone) return say("请先填写手机号。");
  $("send-code").disabled = true;
  try {
    await call("POST", "/family/codes", { phone });
    $("code-box").hidden = false;
    say("验证码已经用短信发出，请查看手机。");
    $("code").focus();
  } catch (err) {
    say(explain(err));
  } finally {
    setTimeout(() => { $("send-code").disabled = false; }, 30000);
  }
}

async function signIn() {
  try {
    state.keys = await newKeys(); // each sign-in registers a new key of this phone
    const raw = await crypto.subtle.exportKey("raw", state.keys.publicKey);
    const done = await call("POST", "/family/sessions", {
      phone: $("phone").value.trim(),
      code: $("code").value.trim(),
      public_key: b64(raw),
    });
    state.token = done.token;
    localStorage.setItem("nongbao.family.token", done.token);
    renderPeople(done.pensioners);
  } catch (err) {
    say(explain(err));
  }
}

async function loadPeople() {
  try {
    const data = await call("GET", "/family/pensioners");
    renderPeople(data.pensioners);
  } catch (err) {
    say(explain(err));
  }
}

function longDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return `${y}年${m}月${d}日`;
}

function renderPeople(people) {
  const list = $("people-list");
  list.replaceChildren();
  for (const p of people) {
    const item = document.createElement("li");
    const name = document.createElement("div");
    name.className = "person-name";
    name.textContent = `${p.name}（${RELATION_TEXT[p.relation] || "亲属"}）`;
    const valid = document.createElement("div");
    valid.textContent = p.valid_until ? `认证有效期到${longDate(p.valid_until)}` : "还没有有效的认证";
    item.append(name, valid);
    if (p.may_certify) {
      const go = document.createElement("button");
      go.className = "primary";
      go.textContent = "为TA认证";
      go.dataset.person = p.person_id;
      go.addEventListener("click", () => prepare(p));
      item.append(go);
    } else {
      const why = document.createElement("div");
      why.className = "refusal";
      why.textContent = CODE_TEXT[p.refusal_code] || p.refusal || "现在不能认证";
      item.append(why);
    }
    list.append(item);
  }
  if (!people.length) {
    const none = document.createElement("li");
    none.textContent = "这个手机号没有登记为任何老人的亲属。";
    list.append(none);
  }
  show("people");
}

function locate() {
  state.where = null;
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(
    (pos) => { state.where = pos.coords; },
    () => {}, // the location is captured where the family member allows it
    { timeout: 8000, maximumAge: 60000 },
  );
}

async function prepare(person) {
  try {
    state.person = person;
    const ch = await call("POST", "/challenges", { person_id: person.person_id });
    // the server's clock, not the phone's: frames are stamped in the server's time
    state.offset = Date.parse(ch.issued_at) / 1000 - Date.now() / 1000;
    state.challenge = ch;
    const list = $("action-list");
    list.replaceChildren(...ch.actions.map((a) => {
      const li = document.createElement("li");
      li.textContent = ACTION_TEXT[a] || a;
      return li;
    }));
    list.dataset.actions = ch.actions.join(",");
    $("prepare-title").textContent = `为${person.name}认证`;
    locate();
    show("prepare");
  } catch (err) {
    say(explain(err));
  }
}

function frameBlob(video, canvas) {
  canvas.getContext("2d").drawImage(video, 0, 0, FRAME_W, FRAME_H);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

function promptAt(elapsed, actions) {
  if (elapsed < BASELINE_S) return ["请看着镜头，不要动", BASELINE_S - elapsed];
  const i = Math.min(actions.length - 1, Math.floor((elapsed - BASELINE_S) / ACTION_S));
  const left = BASELINE_S + (i + 1) * ACTION_S - elapsed;
  return [ACTION_TEXT[actions[i]] || actions[i], left];
}

async function film() {
  const actions = state.challenge.actions;
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
    audio: false,
  });
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  show("capture");
  const canvas = document.createElement("canvas");
  canvas.width = FRAME_W;
  canvas.height = FRAME_H;
  const total = BASELINE_S + ACTION_S * actions.length;
  const shots = [];
  const started = performance.now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= total) {
        clearInterval(timer);
        resolve();
        return;
      }
      const [text, left] = promptAt(elapsed, actions);
      $("prompt").textContent = text;
      $("countdown").textContent = String(Math.ceil(left));
      const t = Date.now() / 1000 + state.offset;
      shots.push(frameBlob(video, canvas).then((blob) => ({ blob, t })));
    }, 1000 / FPS);
  });
  stream.getTracks().forEach((track) => track.stop());
  return Promise.all(shots);
}

async function submit(shots) {
  const ch = state.challenge;
  const frames = await Promise.all(shots.map((s) => s.blob.arrayBuffer()));
  const evidence = JSON.stringify({
    frames: shots.map((s, i) => ({ t: Math.round(s.t * 1000) / 1000, sample: i })),
  });
  const best = frames[Math.floor((BASELINE_S * FPS) / 2)]; // a still, frontal frame
  const hashes = await Promise.all(frames.map((f) => sha256hex(f)));
  const message = [
    "NBCAP1",
    ch.challenge_id,
    ch.nonce,
    await sha256hex(best),
    hashes.join(","),
    await sha256hex(new TextEncoder().encode(evidence)),
  ].join("\n");
  const signature = await crypto.subtle.sign(
    { name: "Ed25519" }, state.keys.privateKey, new TextEncoder().encode(message),
  );
  const form = new FormData();
  form.append("person_id", state.person.person_id);
  form.append("channel", "family");
  form.append("challenge_id", ch.challenge_id);
  form.append("nonce", ch.nonce);
  form.append("evidence", evidence);
  form.append("signature", b64(signature));
  if (state.where) {
    form.append("latitude", String(state.where.latitude));
    form.append("longitude", String(state.where.longitude));
    form.append("accuracy_m", String(Math.min(state.where.accuracy, 1000000)));
  }
  form.append("images", new Blob([best], { type: "image/jpeg" }), "best.jpg");
  frames.forEach((f, i) => form.append("frames", new Blob([f], { type: "image/jpeg" }), `f${i}.jpg`));
  return call("POST", "/certifications", form, { "Idempotency-Key": ch.challenge_id });
}

async function start() {
  $("start").disabled = true;
  try {
    if (!state.keys) state.keys = await keyStore("readonly", (s) => s.get("capture"));
    const shots = await film();
    $("prompt").textContent = "正在核验，请稍候……";
    $("countdown").textContent = "";
    showResult(await submit(shots));
  } catch (err) {
    show("prepare");
    say(err instanceof DOMException ? "打不开摄像头，请允许使用摄像头后再试。" : explain(err));
  } finally {
    $("start").disabled = false;
  }
}

async function showResult(result) {
  show("result");
  $("result").dataset.outcome = result.outcome;
  $("receipt-qr").hidden = true;
  $("receipt-note").hidden = true;
  const name = state.person.name;
  if (result.outcome === "passed") {
    $("result-title").textContent = "认证成功";
    $("result-text").textContent =
      `${name}的养老金领取资格认证已通过，有效期到${longDate(result.valid_until)}。确认短信会发到您的手机。`;
    const response = await fetch(`${API}/family/certifications/${result.certification_id}/qr.svg`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
    if (response.ok) {
      $("receipt-qr").src = URL.createObjectURL(await response.blob());
      $("receipt-qr").hidden = false;
      $("receipt-note").hidden = false;
    }
  } else if (result.outcome === "referred") {
    $("result-title").textContent = "已提交，等待复核";
    $("result-text").textContent = "这次需要工作人员再看一下，我们会尽快联系您，不影响养老金发放。";
  } else {
    $("result-title").textContent = "这次没有通过";
    const codes = [...(result.reasons || []), ...((result.liveness || {}).reasons || [])];
    const reasons = codes.map((r) => REASON_TEXT[r]).filter(Boolean);
    $("result-text").textContent =
      (reasons[0] || "没有认出是老人本人在做动作。") + "可以再试一次，或请老人到村里的自助机认证。";
  }
}

function init() {
  $("send-code").addEventListener("click", sendCode);
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", async () => {
    try { await call("DELETE", "/family/sessions"); } catch (err) { /* signed out anyway */ }
    signOutLocally();
  });
  $("start").addEventListener("click", start);
  $("back").addEventListener("click", loadPeople);
  $("done").addEventListener("click", loadPeople);
  state.token = localStorage.getItem("nongbao.family.token");
  if (state.token) loadPeople();
  else show("signin");
}

document.addEventListener("DOMContentLoaded", init);
