// The cluster page (admins): every node with its state, disk and scrubbing; the blobs by
// the state of their copies; what repair did, and a button to run a pass. It refreshes
// itself every few seconds while the tab is visible.
import { api } from "../api.js";
import { clear, h, loadStylesheet } from "../dom.js";
import { formatBytes, formatDate, formatDuration } from "../format.js";
import { showError, toast } from "../toast.js";

const REFRESH_MS = 3000;

const BLOB_STATES = [
  ["healthy", "Healthy", "R live copies or more"],
  ["degraded", "Degraded", "some copies, fewer than R live"],
  ["under_replicated", "Under-replicated", "fewer than R copies that count (repair copies them)"],
  ["lost", "Lost", "no copy left on any node that counts"],
];

function ago(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 1) return "just now";
  return `${formatDuration(seconds)} ago`;
}

function stateBadge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

function diskBar(node) {
  const capacity = node.capacity_bytes;
  if (!capacity) return h("span", { class: "muted" }, "no figures yet");
  const used = node.used_bytes;
  const other = Math.max(capacity - node.free_bytes - used, 0);
  const bar = h(
    "div",
    {
      class: "disk-bar",
      role: "img",
      "aria-label": `${formatBytes(used)} of blobs, ${formatBytes(node.free_bytes)} free of ${formatBytes(capacity)}`,
    },
    h("span", { class: "disk-used" }),
    h("span", { class: "disk-other" }),
  );
  bar.children[0].style.width = `${(100 * used) / capacity}%`;
  bar.children[1].style.width = `${(100 * other) / capacity}%`;
  return bar;
}

function scrubText(scrub) {
  if (!scrub) return "—";
  if (scrub.running) return `running since ${formatDate(scrub.started_at)}`;
  if (!scrub.finished_at) return "no pass yet";
  const found = [];
  if (scrub.corrupt) found.push(`${scrub.corrupt} corrupt`);
  if (scrub.missing) found.push(`${scrub.missing} missing`);
  return `${scrub.checked} checked${found.length ? `, ${found.join(", ")}` : ", all sound"} · ${formatDate(scrub.finished_at)}`;
}

function nodeRow(node) {
  return h(
    "tr",
    { dataset: { node: node.id, state: node.state } },
    h("th", { scope: "row", class: "node-id" }, node.id, h("div", { class: "muted node-url" }, node.url)),
    h("td", { class: "node-state" }, stateBadge(node.state)),
    h("td", { class: "num node-capacity" }, node.capacity_bytes ? formatBytes(node.capacity_bytes) : "—"),
    h("td", { class: "num node-used" }, formatBytes(node.used_bytes)),
    h("td", { class: "num node-free" }, node.capacity_bytes ? formatBytes(node.free_bytes) : "—"),
    h("td", { class: "node-disk" }, diskBar(node)),
    h("td", { class: "num node-blobs" }, String(node.files)),
    h("td", { class: "node-beat" }, ago(node.seconds_since_beat)),
    h("td", { class: "node-scrub" }, scrubText(node.scrub)),
  );
}

function stat(label, value, kind, hint) {
  return h(
    "div",
    { class: `stat ${kind ?? ""}`, title: hint ?? false, dataset: { stat: label } },
    h("div", { class: "stat-value" }, String(value)),
    h("div", { class: "stat-label" }, label),
  );
}

function repairSummary(pass) {
  if (!pass) return "none yet";
  const parts = [`${pass.copied} copied`, `${pass.trimmed} trimmed`];
  if (pass.failed) parts.push(`${pass.failed} failed`);
  if (pass.unavailable) parts.push(`${pass.unavailable} without a live copy`);
  if (pass.collected) parts.push(`${pass.collected} collected`);
  return `${formatDate(pass.started_at)} (${pass.trigger}, ${pass.seconds.toFixed(2)} s): ${parts.join(", ")}`;
}

export async function render(root) {
  loadStylesheet("cluster.css");
  const summary = h("div", { class: "stats", "aria-label": "Blobs and nodes" });
  const nodesBody = h("tbody");
  const lastPass = h("dd", { class: "repair-last-pass" }, "—");
  const lastWork = h("dd", { class: "repair-last-work" }, "—");
  const status = h("p", { class: "refresh-status muted" }, "Loading…");
  const runButton = h("button", { type: "button", class: "primary" }, "Run repair");

  clear(root).append(
    h(
      "div",
      { class: "cluster-head" },
      h("h1", { class: "page-title" }, "Cluster"),
      status,
    ),
    h("section", { "aria-labelledby": "blobs-title" }, h("h2", { id: "blobs-title" }, "Blobs and nodes"), summary),
    h(
      "section",
      { "aria-labelledby": "repair-title", class: "repair" },
      h("div", { class: "section-head" }, h("h2", { id: "repair-title" }, "Repair"), runButton),
      h("dl", {}, h("dt", {}, "Last pass"), lastPass, h("dt", {}, "Last pass that changed copies"), lastWork),
    ),
    h(
      "section",
      { "aria-labelledby": "nodes-title" },
      h("h2", { id: "nodes-title" }, "Nodes"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "nodes" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Node", "State", "Capacity", "Used", "Free", "Disk", "Blobs", "Last beat", "Scrub"].map((label) =>
                h("th", { scope: "col" }, label),
              ),
            ),
          ),
          nodesBody,
        ),
      ),
    ),
  );

  let timer = null;
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const [nodes, health] = await Promise.all([api("/nodes"), api("/cluster/health")]);
      nodesBody.replaceChildren(
        ...(nodes.length ? nodes.map(nodeRow) : [h("tr", {}, h("td", { colspan: "9", class: "muted" }, "No node has registered yet."))]),
      );
      summary.replaceChildren(
        stat("Nodes up", health.nodes_up, "ok"),
        stat("Nodes down", health.nodes_down, health.nodes_down ? "bad" : ""),
        stat("Replication", `R = ${health.replication}`),
        stat("Files", health.files),
        stat("Blobs", health.blobs),
        ...BLOB_STATES.map(([key, label, hint]) =>
          stat(label, health[key], key === "healthy" ? "ok" : health[key] ? "bad" : "", hint),
        ),
      );
      lastPass.textContent = repairSummary(health.repair?.last_pass);
      lastWork.textContent = repairSummary(health.repair?.last_work);
      status.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
      status.classList.remove("stale");
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}`;
      status.classList.add("stale");
    } finally {
      busy = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    if (!document.hidden) timer = setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
    schedule();
  });

  runButton.addEventListener("click", async () => {
    runButton.disabled = true;
    runButton.textContent = "Repairing…";
    try {
      const report = await api("/cluster/repair", { method: "POST" });
      toast(
        `Repair pass: ${report.copied} copied, ${report.trimmed} trimmed, ${report.failed} failed, ${report.collected} collected`,
        "ok",
      );
      await refresh();
    } catch (error) {
      showError(error);
    } finally {
      runButton.disabled = false;
      runButton.textContent = "Run repair";
    }
  });

  await refresh();
  schedule();
}
