# The study of config/config.yaml as one DAG, for classification, QA and generation tasks alike:
#   prepare_data -> train_teacher -> teacher_logits -> train_student (finetune | swa | kd | ...) -> evaluate
#   -> aggregate -> mlflow_sync; analyse_flatness per run -> flatness_tables; plots per task.
# Usage: snakemake --cores all                 (the whole study)
#        snakemake -n                          (the plan only)
#        snakemake --cores all --configfile config/qa-study.yaml   (SQuAD; config/generation-study.yaml: CommonGen)
#        snakemake --cores all --configfile config/paper.yaml
#        snakemake --report results/report.html   (one self-contained HTML page with every table and plot)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"  # snakemake --report results/report.html: every table and plot, with captions


include: "rules/common.smk"  # checks the config (config/schema.yaml, methods.yaml, tasks.yaml): STUDY


check_assets(STUDY)
check_remote_code(STUDY)
check_shared_vocabulary(STUDY)
note_skipped_pairs(STUDY)


onstart:
    lock_results_dir()
    remove_stale_results(workflow.dag.needrun_jobs())
    prepare_tracking()


include: "rules/data.smk"
include: "rules/teacher.smk"
include: "rules/tuning.smk"
include: "rules/students.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"
include: "rules/soups.smk"
include: "rules/report.smk"
include: "rules/calibration.smk"
include: "rules/tracking.smk"


rule all:
    input:
        summary_targets(),
        run_infos(),  # a run whose outputs are gone (a rerun killed half-way) is retrained, never reported stale
        run_metrics(),
        teacher_metrics(),
    default_target: True
