// The monitor admin's zone map: draws the saved zone circles with Leaflet, then follows the
// definition textarea so an operator sees a circle before saving it. Exposes its state as
// `window.fleetmonZoneMap` (and the circle count as `data-circles`) for the browser tests.
(function () {
  "use strict";

  var TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  var FRANCE = [46.6, 2.4];
  var COLOURS = { In: "#2e7d32", Out: "#c62828" };

  function zonesOf(definition) {
    // Only what a preview needs; the server validates (and may refuse) the real thing.
    var triggerParam = definition && definition.triggerParam;
    var triggers = (triggerParam && Array.isArray(triggerParam.triggers)) ? triggerParam.triggers : [];
    var zones = [];
    triggers.forEach(function (trigger) {
      var zone = trigger && trigger.zone;
      var place = zone && (zone.place || zone.circle);  // `circle` is the API's accepted alias
      var center = place && place.center;
      if (!center) return;
      var latitude = Number(center.latitude), longitude = Number(center.longitude), radius = Number(place.radius);
      if (isFinite(latitude) && isFinite(longitude) && radius > 0) {
        zones.push({ name: String(trigger.name), transition: zone.transition, latitude: latitude, longitude: longitude, radius_km: radius });
      }
    });
    return zones;
  }

  function start() {
    var container = document.getElementById("fleetmon-zone-map");
    if (!container) return;
    var status = document.getElementById("fleetmon-zone-map-status");
    var textarea = document.getElementById("id_definition");
    var saved = JSON.parse(document.getElementById("fleetmon-zones").textContent);
    var state = { map: null, layer: null, circles: [] };
    window.fleetmonZoneMap = state;

    if (typeof L === "undefined") {
      status.textContent = "Map unavailable: Leaflet did not load. The zones are listed below.";
      return;
    }
    state.map = L.map(container, { scrollWheelZoom: false }).setView(FRANCE, 5);
    // Tiles need internet access; without it the circles still show on a plain background.
    L.tileLayer(TILES, { maxZoom: 18, attribution: "&copy; OpenStreetMap contributors" }).addTo(state.map);
    state.layer = L.featureGroup().addTo(state.map);

    function draw(zones) {
      state.layer.clearLayers();
      state.circles = zones.map(function (zone) {
        return L.circle([zone.latitude, zone.longitude], {
          radius: zone.radius_km * 1000,
          color: COLOURS[zone.transition] || "#555",
          weight: 2,
          fillOpacity: 0.15
        }).bindTooltip(zone.name + ": " + zone.transition + " r=" + zone.radius_km + " km").addTo(state.layer);
      });
      container.dataset.circles = String(state.circles.length);
      if (state.circles.length) {
        state.map.fitBounds(state.layer.getBounds(), { padding: [20, 20], maxZoom: 13 });
      }
    }

    if (!textarea) {  // a read-only page shows the saved zones only
      draw(saved);
      return;
    }
    function typedZones() {
      try { return zonesOf(JSON.parse(textarea.value)); } catch (error) { return null; }
    }
    // The textarea, not the saved data: a form shown again after an error previews what was typed.
    draw(typedZones() || saved);
    var pending = null;
    textarea.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        var zones = typedZones();
        if (zones) {
          draw(zones);
          status.textContent = "";
        } else {
          status.textContent = "The definition is not valid JSON yet; the map shows the last valid version.";
        }
      }, 300);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
