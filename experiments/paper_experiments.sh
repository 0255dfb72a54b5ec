# Sourced by the experiment scripts after they took their workspace argument: EXPERIMENTS is the remaining
# arguments, or the paper's eleven experiments when none are given.
PAPER_EXPERIMENTS=(col_bedroom col_church inpcrop_bedroom inpcrop_church inpcrop_conference inpvar_bedroom inpvar_church
                   inpvar_conference denblind_bedroom denblind_church denblind_conference)
EXPERIMENTS=("$@")
if [ ${#EXPERIMENTS[@]} -eq 0 ]; then EXPERIMENTS=("${PAPER_EXPERIMENTS[@]}"); fi
