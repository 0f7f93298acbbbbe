"""The parts of ``benchmarks/qanet_speed.py`` (the CLI), one module each: crop-parser throughput
(``parser``), QAM's share of QANet inference (``qam_share``), detector + QANet images/s
(``end_to_end``) and our parser against the official network (``vs_official``); ``inputs`` holds
the configs and synthetic images they share. Imported with ``benchmarks/`` on ``sys.path``."""
