"""A Status as the reference's GET …/status answers it, with every section FleetMon's table
reads and some it does not: the body that tests of the reference mapping, ingestion, vehicle
data reads and webhook extensions share."""

from __future__ import annotations

VIN = "VF3ABCDE0FG123456"
LINKS = {"self": {"href": "https://example.test/status"}}
STAMP = "2026-06-01T09:59:00.000Z"

STATUS = {
    "_links": LINKS,
    "vin": VIN,
    "createdAt": STAMP,
    "updatedAt": STAMP,
    "lastPosition": {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {"createdAt": STAMP, "heading": 90, "type": "Acquire", "fixStatus": "3D", "signalQuality": 4},
    },
    "energies": [
        {
            "createdAt": STAMP,
            "type": "Electric",
            "subType": "ElectricEnergy",
            "level": 55.5,
            "autonomy": 180,
            "extension": {
                "electric": {
                    "charging": {"plugged": True, "status": "InProgress", "type": "Full", "remainingTime": "PT1H"},
                    "battery": {"load": {"createdAt": STAMP, "capacity": 50000, "residual": 27000}},
                }
            },
        },
        {"createdAt": STAMP, "type": "Fuel", "subType": "FossilEnergy", "level": 40, "autonomy": 300},
    ],
    "engines": [
        {"createdAt": STAMP, "type": "Thermic", "speed": 900, "extension": {"thermic": {"oil": {"temp": 92.5, "level": 80}}}}
    ],
    "odometer": {"createdAt": STAMP, "mileage": 12345.6},
    "kinetic": {"createdAt": STAMP, "moving": True, "speed": 42.0, "acceleration": 0.3},
    "powertrain": {"createdAt": STAMP, "status": "Running"},
    "doorsState": {
        "createdAt": STAMP,
        "lockedStates": ["Locked"],
        "opening": [{"identifier": "Driver", "state": "Closed"}],
    },
    "environment": {"air": {"createdAt": STAMP, "temp": 21.5}, "luminosity": {"createdAt": STAMP, "day": True}},
    "privacy": {"createdAt": STAMP, "state": "None"},
    "drivingBehavior": {"createdAt": STAMP, "mode": "Eco"},
    "safety": {
        "createdAt": STAMP,
        "autoECallTriggering": "NotDetected",
        "beltStatus": [{"id": "Driver", "belt": "Normal"}, {"id": "Passenger", "belt": "Omission"}],
    },
    "preconditioning": {"airConditioning": {"createdAt": STAMP, "status": "Enabled", "startingCause": "Immediate"}},
    "alarm": {
        "status": {"createdAt": STAMP, "activation": "Active"},
        "trigger": {"createdAt": STAMP, "type": "RoofBreakIn", "startAt": STAMP},
    },
    "stolen": {
        "_links": {"self": {"href": "https://example.test/stolen/1"}},
        "createdAt": STAMP,
        "id": "1",
        "state": True,
        "startedAt": STAMP,
    },
    "battery": {"createdAt": STAMP, "voltage": 12.4},
    "ignition": {"createdAt": STAMP, "type": "Start"},
    "transmission": {"gearbox": {"ratio": "Ratio3"}},
    "adas": {"esp": True, "sli": 90},
    "someFutureSection": {"x": 1},
}
