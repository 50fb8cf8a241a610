"""FROZEN event payload layout of the twin model (tmesim.protocols.schedule at 7bd9782). Do not edit."""

EVENT_DOSE, EVENT_INFUSION = 0, 1
DOSE_DRUG, DOSE_CONCENTRATION = 0, 1
INFUSION_CD8, INFUSION_CD4, INFUSION_MEMORY_FRACTION, INFUSION_AXIS = 0, 1, 2, 3
