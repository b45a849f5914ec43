-- Stemcheck's Ardour test defect: inverts the polarity of what passes through. Placed after a
-- stem's Stemcheck instance, it makes the master receive that stem upside down, as if the stem
-- had been printed with inverted polarity. Installed by the end-to-end test; not part of the
-- product.
ardour {
	["type"]    = "dsp",
	name        = "Stemcheck Test Invert",
	category    = "Utility",
	license     = "GPL-3.0-or-later",
	author      = "Stemcheck",
	description = [[Polarity inversion, for Stemcheck's end-to-end test.]]
}

function dsp_ioconfig ()
	return { { audio_in = -1, audio_out = -1 } }
end

function dsp_run (ins, outs, n_samples)
	for c = 1, #ins do
		if ins[c] ~= outs[c] then
			ARDOUR.DSP.copy_vector(outs[c], ins[c], n_samples)
		end
		ARDOUR.DSP.apply_gain_to_buffer(outs[c], n_samples, -1.0)
	end
end
