// The receipts page's check of a kept receipt, in the browser: RFC 9162 inclusion and consistency
// proofs over SHA-256 and C2SP signed-note Ed25519 signatures, with Web Crypto only. The server is
// asked for its key, its latest checkpoint and a consistency proof; what they prove is computed here.
"use strict";

(function () {
  const box = document.getElementById("log-check");
  if (!box) return;
  const out = document.getElementById("check-log-result");
  const enc = new TextEncoder();

  class Refused extends Error {}

  function concat(...parts) {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return all;
  }
  function unhex(h, what) {
    if (typeof h !== "string" || !/^[0-9a-f]{64}$/.test(h)) throw new Refused(`${what} 不是 64 位十六进制哈希`);
    return Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  }
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  function unb64(s) {
    const bin = atob(s);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
  const isSize = (n) => Number.isSafeInteger(n) && n >= 0;

  // RFC 9162 §2.1.3.2
  async function verifyInclusion(index, size, leaf, proof, root) {
    if (!isSize(index) || !isSize(size) || index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(r, root);
  }

  // RFC 9162 §2.1.4.2
  async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
    if (!isSize(first) || !isSize(second) || first > second) return false;
    if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
    if (first === 0) return proof.length === 0;
    if (proof.length === 0) return false;
    let path = proof.slice();
    if ((first & (first - 1)) === 0) path = [firstRoot, ...path];  // an exact power of 2
    let fn = first - 1, sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(fr, firstRoot) && same(sr, secondRoot);
  }

  // C2SP signed note with an Ed25519 verifier key name+<hex key id>+base64(0x01 ‖ key).
  async function verifierFrom(vkey) {
    const first = vkey.indexOf("+"), second = vkey.indexOf("+", first + 1);  // base64 may hold "+" too
    if (first < 0 || second < 0) throw new Refused("服务公钥格式错误");
    const name = vkey.slice(0, first), id = vkey.slice(first + 1, second), b64 = vkey.slice(second + 1);
    const raw = unb64(b64);
    if (raw.length !== 33 || raw[0] !== 1) throw new Refused("服务公钥不是 Ed25519 密钥");
    const kid = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
    if (hex(kid) !== id) throw new Refused("服务公钥的密钥号与公钥不符");
    const key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name, kid, key };
  }

  async function signedCheckpoint(verifier, note, what) {
    if (typeof note !== "string") throw new Refused(`${what}缺少签名检查点`);
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new Refused(`${what}不是签名检查点`);
    const body = note.slice(0, split + 1);
    const lines = note.slice(split + 2).split("\n").filter((l) => l);
    let signed = false;
    for (const line of lines) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m || m[1] !== verifier.name) continue;
      const raw = unb64(m[2]);
      if (!same(raw.slice(0, 4), verifier.kid)) continue;
      if (!(await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, raw.slice(4), enc.encode(body)))) {
        throw new Refused(`${what}的签名无效`);
      }
      signed = true;
    }
    if (!signed) throw new Refused(`${what}没有服务密钥的签名`);
    const [origin, size, root] = body.slice(0, -1).split("\n");
    if (!/^(0|[1-9][0-9]*)$/.test(size || "")) throw new Refused(`${what}格式错误`);
    const rootBytes = unb64(root || "");
    if (rootBytes.length !== 32) throw new Refused(`${what}格式错误`);
    return { origin, size: Number(size), root: rootBytes };
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Refused(`服务器未给出 ${url.split("?")[0]}（${r.status}）`);
    return r.json();
  }

  async function readReceipt() {
    const file = document.getElementById("receipt-file").files[0];
    const text = file ? await file.text() : document.getElementById("receipt-text").value;
    let doc;
    try { doc = JSON.parse(text); } catch (e) { throw new Refused("回执不是有效的 JSON"); }
    const receipt = doc && typeof doc.receipt === "object" ? doc.receipt : doc;
    if (!receipt || typeof receipt.log !== "object" || !receipt.log) throw new Refused("回执中没有日志证明（log）");
    return receipt;
  }

  async function check() {
    const receipt = await readReceipt();
    const log = receipt.log;
    const verifier = await verifierFrom((await getJSON(box.dataset.keyUrl)).vkey);
    const mine = await signedCheckpoint(verifier, log.note, "回执的检查点");
    if (mine.size !== log.size || hex(mine.root) !== log.root) throw new Refused("回执的大小或根与其签名检查点不符");
    const proof = (log.proof || []).map((p) => unhex(p, "证明"));
    const leaf = await leafHash(unhex(log.hash || receipt.head, "事件哈希"));
    if (!(await verifyInclusion(log.index, mine.size, leaf, proof, mine.root))) {
      throw new Refused(`包含证明无效：第 ${log.index} 号记录不在大小为 ${mine.size} 的树中`);
    }
    const latest = await signedCheckpoint(verifier, (await getJSON(box.dataset.checkpointUrl)).note, "最新检查点");
    if (latest.origin !== mine.origin) throw new Refused("最新检查点属于另一个日志");
    if (latest.size < mine.size) {
      throw new Refused(`最新检查点（大小 ${latest.size}）比回执的（大小 ${mine.size}）小：日志被截短`);
    }
    const cons = await getJSON(`${box.dataset.consistencyUrl}?first=${mine.size}&second=${latest.size}`);
    const consProof = (cons.proof || []).map((p) => unhex(p, "证明"));
    if (!(await verifyConsistency(mine.size, latest.size, mine.root, latest.root, consProof))) {
      throw new Refused(`一致性证明无效：最新检查点（大小 ${latest.size}）不是在回执的检查点（大小 ${mine.size}）之后只追加得到的，历史被删除或改写`);
    }
    return [
      `检查点 ${mine.origin}（大小 ${mine.size}）由服务密钥 ${verifier.name} 签名；`,
      `您的记录（日志第 ${log.index} 号，事件哈希 ${(log.hash || receipt.head).slice(0, 16)}…）包含在该检查点的默克尔树中；`,
      `最新检查点（大小 ${latest.size}）也由同一密钥签名，并与回执的检查点一致：此后日志只追加，您的记录未被删除或改写。`,
    ];
  }

  document.getElementById("check-log").addEventListener("click", async () => {
    out.className = "";
    out.textContent = "正在核对…";
    try {
      const proven = await check();
      out.className = "good";
      out.textContent = "";
      const head = document.createElement("p");
      head.textContent = "回执核对通过。已在您的浏览器中证明：";
      const list = document.createElement("ol");
      for (const line of proven) {
        const li = document.createElement("li");
        li.textContent = line;
        list.appendChild(li);
      }
      out.append(head, list);
    } catch (e) {
      out.className = "bad";
      out.textContent = "核对未通过：" + (e instanceof Refused ? e.message : `无法核对（${e.message}）`);
    }
  });
})();
