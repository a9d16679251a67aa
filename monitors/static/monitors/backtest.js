// The monitor page's Backtest panel: posts the range to the backtest endpoint (the admin
// session authenticates it) and draws the would-be events, one SVG strip per vehicle.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 720;
  const ROW = 22;
  const LABEL = 150;

  function utcInputValue(date) {
    return date.toISOString().slice(0, 19); // datetime-local, read as UTC
  }

  function element(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function describe(event) {
    const values = event.values.map((value) => {
      const body = value.value.body;
      return `${value.data}=${body.literalValue !== undefined ? body.literalValue : JSON.stringify(body.objectValues)}`;
    });
    return [event.eventDate, event.refresh ? "refresh" : "event", ...values].join(" ");
  }

  function draw(result, from, until, container) {
    container.replaceChildren();
    const byVin = new Map();
    result.events.forEach((event) => {
      if (!byVin.has(event.vin)) byVin.set(event.vin, []);
      byVin.get(event.vin).push(event);
    });
    if (!byVin.size) return;
    const span = until - from;
    const svg = element("svg", {
      class: "fleetmon-backtest-strips",
      width: LABEL + WIDTH,
      height: ROW * byVin.size,
      viewBox: `0 0 ${LABEL + WIDTH} ${ROW * byVin.size}`,
      role: "img",
      "aria-label": "Would-be events per vehicle over the range",
    });
    [...byVin.keys()].sort().forEach((vin, row) => {
      const y = row * ROW;
      svg.appendChild(element("text", { x: 0, y: y + ROW - 7, class: "fleetmon-backtest-vin" }, vin));
      svg.appendChild(element("line", { x1: LABEL, x2: LABEL + WIDTH, y1: y + ROW / 2, y2: y + ROW / 2, class: "fleetmon-axis" }));
      byVin.get(vin).forEach((event) => {
        const x = LABEL + (WIDTH * (Date.parse(event.eventDate) - from)) / span;
        const mark = element("rect", {
          x: (x - 1.5).toFixed(2), y: y + 3, width: 3, height: ROW - 6,
          class: event.refresh ? "fleetmon-backtest-refresh" : "fleetmon-backtest-event",
        });
        mark.appendChild(element("title", {}, describe(event)));
        svg.appendChild(mark);
      });
    });
    container.appendChild(svg);
  }

  function start() {
    const panel = document.getElementById("fleetmon-backtest");
    if (!panel) return;
    const fromInput = document.getElementById("fleetmon-backtest-from");
    const untilInput = document.getElementById("fleetmon-backtest-until");
    const status = document.getElementById("fleetmon-backtest-status");
    const result = document.getElementById("fleetmon-backtest-result");
    const now = new Date();
    untilInput.value = utcInputValue(now);
    fromInput.value = utcInputValue(new Date(now.getTime() - 24 * 3600 * 1000));

    document.getElementById("fleetmon-backtest-run").addEventListener("click", async () => {
      const from = fromInput.value + "Z";
      const until = untilInput.value + "Z";
      const token = document.querySelector("[name=csrfmiddlewaretoken]");
      status.textContent = "Replaying…";
      result.replaceChildren();
      try {
        const response = await fetch(panel.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
          body: JSON.stringify({ from, until }),
        });
        const body = await response.json();
        if (!response.ok) {
          const details = (body.errors || []).map((error) => `${error.field}: ${error.message}`).join("; ");
          status.textContent = `Refused (${response.status}): ${details || body.message}`;
          return;
        }
        const listed = body.events.length < body.total ? ` (the oldest ${body.events.length} drawn)` : "";
        status.textContent =
          `${body.total} events${listed} from ${body.evaluatedPoints} points of ${body.vehicles} vehicles.`;
        draw(body, Date.parse(from), Date.parse(until), result);
      } catch (error) {
        status.textContent = `Backtest failed: ${error}`;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
