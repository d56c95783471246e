// The time-travel slider's tick label: its value counts minutes since t0 (epoch ms, an arg).
return new Date(t0 + tick * 60000).toISOString().slice(0, 16).replace('T', ' ');
