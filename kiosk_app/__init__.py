"""The self-service kiosk: a Kivy touchscreen app for annual survival certification."""
