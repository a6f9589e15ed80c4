"""The device layer: cameras, card readers, scanners and receipt printers.

One small interface per kind of device, a real driver for what county halls buy and a
simulator that behaves like one. Nothing here imports the rest of Nongbao, so the kiosk
and the field app can use it with or without a backend.
"""
