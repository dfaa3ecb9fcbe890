"""How hard an audit attacks a model's privacy: the ``privacy_depth`` an audit takes."""

# depth -> LiRA reference models to train, and whether to run the one-run canary audit
DEPTHS = {"quick": {"references": 0, "canaries": False},
          "standard": {"references": 4, "canaries": False},
          "thorough": {"references": 8, "canaries": True}}
