"""A frozen copy of the well-mixed model's right-hand side as it was before the cell-programs
redesign (commit 7bd9782): the composed model (tmesim.wellmixed.model over tmesim.biology.programs)
must give the same dydt and outputs (tests/integration/test_model_twin.py), as PyBaMM tests its
composed models against "basic" twins. Nothing here is imported by the package.

A deliberate change to the model's numbers changes both: regenerate this copy from the new model
in the same commit and say so, or the twin test fails as it should.

Edited since 7bd9782: the tumour's two CAR-antigen clones (antigen loss at division, CAR T cells killing
and seeing antigen-positive cells only; commit "wellmixed: antigen-negative tumour subclone ...");
manufacturing: the culture's proteasome expression and the longer bortezomib culture (products.py,
index.py; commit "products: the culture's state apart from the cells' lifelong expression ..."); the
T cell CD36 state (the axis's eighth variable: it relaxes towards a level the lipid milieu sets and scales
lipid uptake; three parameters appended to the index; branch cd36).
T cell ferroptosis reads its own Hill power, ``t_cell_ferroptosis_hill`` (appended to the index), where it
shared the tumour's ``ferroptosis_hill``, which the twin test now restates from the line's resting hazard.
"""
