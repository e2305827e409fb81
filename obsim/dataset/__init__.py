"""The dataset format shared by the simulator (writer) and the UI and exporters (readers)."""
