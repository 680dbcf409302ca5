"""What a user may put in a child process's environment.

Every place a user's words reach a child process (runs, tuning jobs, model
servers) goes through `check_user_env`: a name must be on the admin's
allow-list, and no allow-list can admit a loader, shell or interpreter variable,
a variable the service sets itself, or one that names a path, a library, a
plugin or a cache directory — those load code or reach other owners' files.
The service's own secrets are kept out by `src.utils.processes.service_environment`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from src.utils.sealing import is_sealed

# Names a child of this service never takes from a user, whatever the settings say.
FORBIDDEN_ENV = re.compile(
    r"""^(
        LD_.* | DYLD_.* | GCONV_PATH | LOCPATH | NLSPATH | HOSTALIASES | RESOLV_HOST_CONF | MALLOC_.*
      | GLIBC_TUNABLES
      | BASH_ENV | ENV | BASH_FUNC_.* | SHELLOPTS | BASHOPTS | PS[0-9] | PROMPT_COMMAND | IFS | CDPATH
      | GLOBIGNORE | HISTFILE | HOME | SHELL | PATH | TMPDIR | TERMINFO.* | INPUTRC | EDITOR | VISUAL | PAGER
      | PYTHON.* | PIP_.* | VIRTUAL_ENV | CONDA_.* | PERL5?LIB | PERL5OPT | RUBYOPT | RUBYLIB | NODE_OPTIONS
      | NODE_PATH | JAVA_TOOL_OPTIONS | _JAVA_OPTIONS | CLASSPATH | OPENSSL_.* | SSL_CERT_.* | CURL_CA_BUNDLE
      | REQUESTS_CA_BUNDLE | GIT_.* | SSH_.* | HTTPS?_PROXY | https?_proxy | ALL_PROXY | NO_PROXY
      | TUNING_.* | TRAINING_DB_URL | CUDA_VISIBLE_DEVICES | NVIDIA_VISIBLE_DEVICES | ROCR_VISIBLE_DEVICES
      | HIP_VISIBLE_DEVICES | VLLM_API_KEY | VLLM_PLUGINS | VLLM_.*_PATH | TORCH_EXTENSIONS_DIR
      | TORCHINDUCTOR_.* | TRITON_.* | NCCL_NET_PLUGIN | NCCL_TUNER_PLUGIN | NCCL_.*_FILE | HF_HOME
      | HF_MODULES_CACHE | HF_HUB_CACHE | HF_DATASETS_CACHE | TRANSFORMERS_CACHE | XDG_.*
      | SBATCH_.* | SLURM_.* | SRUN_.* | SALLOC_.* | MUNGE_.*
      | .*(_PATH|_DIR|_DIRS|_HOME|_ROOT|_FILE|_PLUGIN|_PLUGINS|_CACHE|_LIBRARY|_LIB|_PRELOAD|_MODULES|_CONFIG)
    )$""",
    re.VERBOSE,
)

# What a run may set when the admin says nothing: logging, offline switches and
# thread counts. None of these names a path, a library or a plugin.
DEFAULT_ENV_ALLOWLIST = (
    "WANDB_API_KEY",
    "WANDB_MODE",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_NAME",
    "WANDB_RUN_GROUP",
    "WANDB_TAGS",
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TRANSFORMERS_VERBOSITY",
    "TOKENIZERS_PARALLELISM",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NCCL_DEBUG",
    "NCCL_P2P_DISABLE",
    "NCCL_IB_DISABLE",
    "TORCH_DISTRIBUTED_DEBUG",
    "ACCELERATE_LOG_LEVEL",
    "DISABLE_VERSION_CHECK",
    "LLAMAFACTORY_VERBOSITY",
    "FORCE_TORCHRUN",
)

# Values of these names are credentials: stored sealed, shown masked.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class EnvRefused(ValueError):
    """A user's environment entry is refused; `name` says which."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


def forbidden_names(names: Iterable[str]) -> list[str]:
    """The names in `names` that no allow-list may admit."""
    return sorted(name for name in names if FORBIDDEN_ENV.match(name))


def check_user_env(env: Mapping[str, str], *, allowed: Iterable[str]) -> None:
    """Raise EnvRefused for the first entry that is not allowed or whose value is not plain text."""
    allowed_set = set(allowed)
    for name in sorted(env):
        if FORBIDDEN_ENV.match(name):
            raise EnvRefused(
                f"env may not set {name}: loader, shell, interpreter, path and service variables "
                "are never passed to a child process",
                name=name,
            )
        if name not in allowed_set:
            raise EnvRefused(
                f"env may not set {name}: it is not on this service's allow-list "
                f"({', '.join(sorted(allowed_set)) or 'empty'})",
                name=name,
            )
        if _BAD_VALUE_CHARS.search(env[name]):
            raise EnvRefused(f"env {name} must be one line of plain text (no control characters)", name=name)


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def mask_value(value: str) -> str:
    """A credential as responses show it: its last four characters at most, nothing of a sealed one."""
    if is_sealed(value) or len(value) < 12:
        return "****"
    return "****" + value[-4:]


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment as a response may show it: credentials masked."""
    return {name: mask_value(value) if is_secret_name(name) else value for name, value in env.items()}
