"""LeRobot v0.5's ``_get_codec_options``: its table of FFmpeg options per codec, kept for the v0.5 name only -
nothing in the project opens a stream with it."""

from __future__ import annotations

from workers.codecs import LIBSVTAV1_DEFAULT_PRESET, SOFTWARE_CRF_CODECS, is_hardware_encoder


def v05_codec_options(
    vcodec: str, g: int | None = 2, crf: int | None = 30, preset: int | None = None
) -> dict[str, str]:
    """LeRobot v0.5's table of FFmpeg options for ``vcodec`` (its ``_get_codec_options``), all as strings.

    Kept for v0.5 users and tests that call ``_get_codec_options``. Streams are opened with
    `workers.codecs.encoder_options` (v0.6's mapping), which agrees with this table for the software codecs; for nvenc
    it adds ``g`` and spells constant QP ``rc=0`` (the same mode as ``constqp``).

    Each hardware family spells "quality" differently (``q:v``, ``qp``, ``global_quality``); nvenc takes
    no GOP option here because its constant-QP mode is what keeps quality comparable to ``crf``.
    """
    options: dict[str, str] = {}
    is_videotoolbox = vcodec.endswith("_videotoolbox")
    is_nvenc = vcodec.endswith("_nvenc")
    if g is not None and not is_nvenc:
        options["g"] = str(g)
    if crf is not None:
        if vcodec in SOFTWARE_CRF_CODECS:
            options["crf"] = str(crf)
        elif is_videotoolbox:
            options["q:v"] = str(max(1, min(100, int(100 - 2 * crf))))
        elif is_nvenc:
            options["rc"] = "constqp"
            options["qp"] = str(crf)
        elif vcodec.endswith("_vaapi"):
            options["qp"] = str(crf)
        elif vcodec.endswith("_qsv"):
            options["global_quality"] = str(crf)
    if vcodec == "libsvtav1":
        options["preset"] = str(LIBSVTAV1_DEFAULT_PRESET if preset is None else preset)
    elif preset is not None and not is_hardware_encoder(vcodec):
        options["preset"] = str(preset)
    return options
