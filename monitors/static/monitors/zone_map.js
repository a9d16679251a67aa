// The monitor admin's zone map: draws the saved zones (circles, GeoJSON polygons) with Leaflet,
// then follows the definition textarea so an operator sees a zone before saving it. Where the
// definition is editable, Leaflet.draw adds a polygon tool and an edit tool that write what is
// drawn back into the textarea: the textarea stays the one source of truth, and saving it goes
// through the API's own validation. Exposes its state as `window.fleetmonZoneMap` (and the counts
// as `data-circles` and `data-polygons`) for the browser tests.
(function () {
  "use strict";

  var TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  var FRANCE = [46.6, 2.4];
  var COLOURS = { In: "#2e7d32", Out: "#c62828" };
  // A drawn or moved position keeps 6 decimals (~0.1 m), a radius whole metres.
  var DEGREE_DECIMALS = 1e6;
  var KM_DECIMALS = 1e3;

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function isPolygon(geometry) {
    return isObject(geometry) && (geometry.type === "Polygon" || geometry.type === "MultiPolygon") &&
      Array.isArray(geometry.coordinates);
  }

  function zonesOf(definition) {
    // Only what a preview needs; the server validates (and may refuse) the real thing.
    var triggerParam = definition && definition.triggerParam;
    var triggers = (triggerParam && Array.isArray(triggerParam.triggers)) ? triggerParam.triggers : [];
    var zones = [];
    triggers.forEach(function (trigger, index) {
      var zone = trigger && trigger.zone;
      if (!isObject(zone)) return;
      var found = { index: index, name: String(trigger.name), transition: zone.transition };
      if (isPolygon(zone.polygon)) {
        found.polygon = zone.polygon;
        zones.push(found);
        return;
      }
      var place = zone.place || zone.circle;  // `circle` is the API's accepted alias
      var center = place && place.center;
      if (!center) return;
      var latitude = Number(center.latitude), longitude = Number(center.longitude), radius = Number(place.radius);
      if (isFinite(latitude) && isFinite(longitude) && radius > 0) {
        found.latitude = latitude;
        found.longitude = longitude;
        found.radius_km = radius;
        zones.push(found);
      }
    });
    return zones;
  }

  function polygonLayer(geometry, style) {
    // GeoJSON is [longitude, latitude]; Leaflet nests a Polygon's rings one level, a MultiPolygon's two.
    var latLngs = L.GeoJSON.coordsToLatLngs(geometry.coordinates, geometry.type === "Polygon" ? 1 : 2);
    return L.polygon(latLngs, style);
  }

  function rounded(value, decimals) {
    return Math.round(value * decimals) / decimals;
  }

  function freeName(triggers) {
    var taken = {};
    triggers.forEach(function (trigger) { if (trigger) taken[trigger.name] = true; });
    if (!taken.zone) return "zone";
    for (var number = 2; ; number += 1) {
      if (!taken["zone_" + number]) return "zone_" + number;
    }
  }

  function start() {
    var container = document.getElementById("fleetmon-zone-map");
    if (!container) return;
    var status = document.getElementById("fleetmon-zone-map-status");
    var hint = document.getElementById("fleetmon-zone-map-hint");
    var textarea = document.getElementById("id_definition");
    var saved = JSON.parse(document.getElementById("fleetmon-zones").textContent);
    var state = { map: null, layer: null, circles: [], polygons: [], drawing: false };
    window.fleetmonZoneMap = state;

    if (typeof L === "undefined") {
      status.textContent = "Map unavailable: Leaflet did not load. The zones are listed below.";
      return;
    }
    state.map = L.map(container, { scrollWheelZoom: false }).setView(FRANCE, 5);
    // Tiles need internet access; without it the zones still show on a plain background.
    L.tileLayer(TILES, { maxZoom: 18, attribution: "&copy; OpenStreetMap contributors" }).addTo(state.map);
    state.layer = L.featureGroup().addTo(state.map);

    function draw(zones) {
      state.layer.clearLayers();
      state.circles = [];
      state.polygons = [];
      zones.forEach(function (zone) {
        var style = { color: COLOURS[zone.transition] || "#555", weight: 2, fillOpacity: 0.15 };
        var shape, label;
        if (zone.polygon) {
          try {
            shape = polygonLayer(zone.polygon, style);
          } catch (error) {
            return;  // positions that are not numbers (yet, while typing): nothing to preview
          }
          label = zone.name + ": " + zone.transition + " polygon";
          state.polygons.push(shape);
        } else {
          shape = L.circle([zone.latitude, zone.longitude], L.extend({ radius: zone.radius_km * 1000 }, style));
          label = zone.name + ": " + zone.transition + " r=" + zone.radius_km + " km";
          state.circles.push(shape);
        }
        shape.fleetmonZone = zone;
        shape.bindTooltip(label).addTo(state.layer);
      });
      container.dataset.circles = String(state.circles.length);
      container.dataset.polygons = String(state.polygons.length);
      var bounds = state.layer.getBounds();
      if (bounds.isValid()) {
        state.map.fitBounds(bounds, { padding: [20, 20], maxZoom: 13 });
      }
    }

    if (!textarea) {  // a read-only page shows the saved zones only
      draw(saved);
      return;
    }
    function typedDefinition() {
      try {
        var definition = JSON.parse(textarea.value);
        return isObject(definition) ? definition : null;
      } catch (error) {
        return null;
      }
    }
    function typedZones() {
      var definition = typedDefinition();
      return definition && zonesOf(definition);
    }
    function write(definition, message) {
      textarea.value = JSON.stringify(definition, null, 2);
      draw(zonesOf(definition));
      status.textContent = message;
    }

    // The textarea, not the saved data: a form shown again after an error previews what was typed.
    draw(typedZones() || saved);
    var pending = null;
    textarea.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        if (state.drawing) return;  // redrawing now would drop the shapes being drawn or edited
        var zones = typedZones();
        if (zones) {
          draw(zones);
          status.textContent = "";
        } else {
          status.textContent = "The definition is not valid JSON yet; the map shows the last valid version.";
        }
      }, 300);
    });

    if (!L.Control.Draw) {
      return;  // Leaflet.draw did not load: the map previews, the JSON is edited by hand
    }
    state.map.addControl(new L.Control.Draw({
      position: "topright",
      draw: {
        // Leaflet.draw refuses a crossing edge while drawing; the server checks the rest.
        polygon: { allowIntersection: false, showArea: false },
        polyline: false, rectangle: false, circle: false, marker: false, circlemarker: false
      },
      edit: { featureGroup: state.layer, remove: false }
    }));
    hint.hidden = false;
    state.map.on("draw:drawstart draw:editstart", function () { state.drawing = true; });
    state.map.on("draw:drawstop draw:editstop", function () { state.drawing = false; });

    state.map.on(L.Draw.Event.CREATED, function (event) {
      var definition = typedDefinition();
      if (!definition) {
        status.textContent = "The definition is not valid JSON: fix it first, then draw the polygon again.";
        return;
      }
      var triggerParam = definition.triggerParam = isObject(definition.triggerParam) ? definition.triggerParam : {};
      var triggers = triggerParam.triggers = Array.isArray(triggerParam.triggers) ? triggerParam.triggers : [];
      var name = freeName(triggers);
      triggers.push({ name: name, zone: { transition: "In", polygon: event.layer.toGeoJSON(6).geometry } });
      if (!triggerParam.boolExp) triggerParam.boolExp = name;
      write(definition, "Added the zone trigger '" + name + "' (transition In) to the definition; " +
        "combine it in boolExp as needed, then save.");
    });

    state.map.on(L.Draw.Event.EDITED, function (event) {
      var definition = typedDefinition();
      var triggers = definition && isObject(definition.triggerParam) && definition.triggerParam.triggers;
      if (!Array.isArray(triggers)) return;  // the textarea changed under the edit: nothing to match
      event.layers.eachLayer(function (layer) {
        var zone = layer.fleetmonZone;
        var trigger = triggers[zone.index];
        if (!trigger || !isObject(trigger.zone)) return;
        if (zone.polygon) {
          trigger.zone.polygon = layer.toGeoJSON(6).geometry;
        } else {
          var key = "place" in trigger.zone ? "place" : "circle";
          var center = layer.getLatLng();
          trigger.zone[key] = {
            radius: rounded(layer.getRadius() / 1000, KM_DECIMALS),
            center: { latitude: rounded(center.lat, DEGREE_DECIMALS), longitude: rounded(center.lng, DEGREE_DECIMALS) }
          };
        }
      });
      write(definition, "The edited zones are in the definition; save the monitor to keep them.");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
