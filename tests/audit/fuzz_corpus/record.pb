w"7
vt-casusregisseur-07veiligheidshuiscasusregisseur*VT-2026-0043:ggz-breburgBveiligheidshuisJ
ggz-behandelingRveiligheidsplanZwvggz-art-8-32bacute-veiligheidj<R-3permitted by rule* ppppppppppppppppppppppppppppppppz%ë 