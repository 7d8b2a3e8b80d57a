"""CrossNet (Zheng et al., ECCV 2018): flow estimator (`flownet`), network (`network`), method (`method`)."""
