"""The well-mixed (QSP-style) engine: populations with mean intracellular
states, batched over arms and virtual patients in one compiled integration."""
